import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import type { ChurnBand, ChurnModelFeature } from '@cem/domain';
import type { BgNbdParams } from './bg-nbd';
import { FEATURE_NAMES, type CustomerFeatures, type FeatureName } from './features';

/** The fitted risk model as the scorer uses it (the payload of `churn-model.fitted`, less its figures). */
export interface RiskModel {
  name: string;
  version: number;
  horizonDays: number;
  trainingWindowDays: number;
  bandThresholds: [number, number, number];
  bgNbd: BgNbdParams;
  intercept: number;
  features: ChurnModelFeature[];
}

export interface FactorContribution {
  name: FeatureName;
  /** the feature's raw value */
  value: number;
  /** its share of the log-odds: weight x standardised value, rounded to 6 decimals */
  contribution: number;
  reason: string;
}

export interface RiskScore {
  /** the model's log-odds: exactly `base` + the sum of the contributions, in their listed order */
  logOdds: number;
  /** the log-odds of a customer at the training mean (the intercept) */
  base: number;
  /** 1 / (1 + e^-logOdds): probability of churning within the horizon */
  probability: number;
  band: ChurnBand;
  /** largest effect first (towards churn or away from it) */
  factors: FactorContribution[];
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export const BANDS: readonly ChurnBand[] = ['low', 'medium', 'high', 'critical'];
export const bandOf = (probability: number, [medium, high, critical]: readonly [number, number, number]): ChurnBand =>
  probability >= critical ? 'critical' : probability >= high ? 'high' : probability >= medium ? 'medium' : 'low';

/** Scores one customer's features: per-factor contributions in log-odds that add up to the score. */
export function scoreFeatures(model: RiskModel, features: CustomerFeatures): RiskScore {
  const base = round6(model.intercept);
  const factors: FactorContribution[] = [];
  for (const f of model.features) {
    if (f.sd === 0 || f.weight === 0) continue;
    const name = f.name as FeatureName;
    const value = features.values[name] ?? 0;
    factors.push({
      name,
      value: round6(value),
      contribution: round6((f.weight * (value - f.mean)) / f.sd),
      reason: features.reasons[name] ?? '',
    });
  }
  factors.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution) || a.name.localeCompare(b.name));
  let logOdds = base;
  for (const f of factors) logOdds += f.contribution;
  const probability = sigmoid(logOdds);
  return { logOdds, base, probability, band: bandOf(probability, model.bandThresholds), factors };
}

export interface LogisticFit {
  intercept: number;
  features: ChurnModelFeature[];
  iterations: number;
  logLoss: number;
}

/**
 * L2-regularised logistic regression (penalty `lambda` on the standardised weights, not on the
 * intercept) by Newton's method (iteratively reweighted least squares), each step solved with
 * ml-matrix's Cholesky decomposition. Standardising keeps contributions comparable between
 * factors; a feature that does not vary in the training data gets weight 0. Deterministic.
 */
export function fitLogistic(rows: readonly Record<FeatureName, number>[], churned: readonly boolean[], lambda = 1): LogisticFit {
  const n = rows.length;
  if (n === 0) throw new RangeError('risk model fit: no customer to train on');
  const churners = churned.filter(Boolean).length;
  if (churners === 0 || churners === n)
    throw new RangeError('risk model fit: the training window needs both churned and retained customers');
  const stats = FEATURE_NAMES.map((name) => {
    let mean = 0;
    for (const r of rows) mean += r[name];
    mean /= n;
    let variance = 0;
    for (const r of rows) variance += (r[name] - mean) ** 2;
    return { name, mean, sd: Math.sqrt(variance / n) };
  });
  const used = stats.filter((s) => s.sd > 1e-9);
  const p = used.length + 1;
  const X = rows.map((r) => [1, ...used.map((s) => (r[s.name] - s.mean) / s.sd)]);
  const y = churned.map((c) => (c ? 1 : 0));
  let beta = new Array<number>(p).fill(0);
  beta[0] = Math.log(churners / (n - churners));
  let iterations = 0;
  for (; iterations < 50; iterations++) {
    const gradient = new Array<number>(p).fill(0);
    const hessian = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    for (let i = 0; i < n; i++) {
      const xi = X[i];
      let z = 0;
      for (let j = 0; j < p; j++) z += beta[j] * xi[j];
      const mu = sigmoid(z);
      const w = Math.max(mu * (1 - mu), 1e-12);
      for (let j = 0; j < p; j++) {
        gradient[j] += (mu - y[i]) * xi[j];
        for (let k = 0; k <= j; k++) hessian[j][k] += w * xi[j] * xi[k];
      }
    }
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < j; k++) hessian[k][j] = hessian[j][k];
      if (j > 0) {
        gradient[j] += lambda * beta[j];
        hessian[j][j] += lambda;
      }
    }
    const step = new CholeskyDecomposition(new Matrix(hessian)).solve(Matrix.columnVector(gradient)).to1DArray();
    beta = beta.map((b, j) => b - step[j]);
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < p; j++) z += beta[j] * X[i][j];
    const mu = Math.min(1 - 1e-15, Math.max(1e-15, sigmoid(z)));
    logLoss -= y[i] * Math.log(mu) + (1 - y[i]) * Math.log(1 - mu);
  }
  const weights = new Map(used.map((s, j) => [s.name, beta[j + 1]]));
  return {
    intercept: beta[0],
    features: stats.map((s) => ({ name: s.name, mean: s.mean, sd: s.sd > 1e-9 ? s.sd : 0, weight: weights.get(s.name) ?? 0 })),
    iterations,
    logLoss: logLoss / n,
  };
}
