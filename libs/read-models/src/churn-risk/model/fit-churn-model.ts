import type { ChurnBand, ChurnModelFittedV1 } from '@cem/domain';
import type { ChurnFacts } from '../churn-facts';
import { conditionalExpectedPurchases, fitBgNbd, type BgNbdFit, type PurchaseSummary } from './bg-nbd';
import { churnFeatures, DAY_MS, knownAt, purchaseSummary, retainedIn } from './features';
import { auc, bandFigures, calibration, topDecileLift, type BandFigures, type CalibrationDecile } from './metrics';
import { fitLogistic, scoreFeatures, type RiskModel } from './risk-model';

export const CHURN_MODEL_NAME = 'churn-risk-logit-bgnbd';
export const DEFAULT_BAND_THRESHOLDS: [number, number, number] = [0.25, 0.5, 0.75];

export interface ChurnFitOptions {
  /** the log is read before this instant (epoch ms) */
  asOf: number;
  horizonDays: number;
  bandThresholds?: [number, number, number];
  version: number;
  /** progress for long fits (a phase name) */
  progress?: (phase: string) => void;
}

/** A fit refused for its input (empty log, no purchases, too short a history): a user error, not a bug. */
export class ChurnFitError extends Error {
  override readonly name = 'ChurnFitError';
}

const live = (customers: Iterable<ChurnFacts>, asOf: number) =>
  [...customers].filter((c) => c.mergedInto === null && knownAt(c, asOf)).sort((a, b) => (a.customerId < b.customerId ? -1 : 1));

function fitPurchases(customers: readonly ChurnFacts[], asOf: number, when: string): BgNbdFit {
  const summaries = customers.map((c) => purchaseSummary(c, asOf)).filter((s): s is PurchaseSummary => s !== undefined);
  if (summaries.length === 0) throw new ChurnFitError(`no purchase before ${when}: the BG/NBD part of the model cannot be fitted`);
  if (!summaries.some((s) => s.x > 0))
    throw new ChurnFitError(`no repeat purchase before ${when}: the BG/NBD part of the model cannot be fitted`);
  return fitBgNbd(summaries);
}

/**
 * Fits the churn-risk model on customer facts as of `asOf`, deterministically (same facts -> same
 * parameters). The labels need a window whose outcome is known: the model is trained on the state
 * at `asOf - window` and what happened in the window after it, where the window is the horizon, or
 * half the history when the history is shorter than two horizons. The BG/NBD part is refitted on
 * the whole history up to `asOf` for scoring.
 */
export function fitChurnModel(all: Iterable<ChurnFacts>, options: ChurnFitOptions): ChurnModelFittedV1 {
  const { asOf, horizonDays } = options;
  const customers = live(all, asOf);
  if (customers.length === 0) throw new ChurnFitError(`the log has no customer with an event before ${new Date(asOf).toISOString()}`);
  const earliest = Math.min(...customers.map((c) => c.touches[0]));
  const windowDays = Math.min(horizonDays, Math.floor((asOf - earliest) / DAY_MS / 2));
  if (windowDays < 7)
    throw new ChurnFitError(
      `the history before the as-of instant is ${Math.floor((asOf - earliest) / DAY_MS)} days: at least 14 are needed`,
    );
  const cut = asOf - windowDays * DAY_MS;
  options.progress?.('BG/NBD on the training history');
  const trainingCustomers = customers.filter((c) => knownAt(c, cut));
  const bgNbdAtCut = fitPurchases(trainingCustomers, cut, new Date(cut).toISOString());
  options.progress?.(`features of ${trainingCustomers.length} customers`);
  const rows = trainingCustomers.map((c) => churnFeatures(c, cut, { bgNbd: bgNbdAtCut.params, windowDays }).values);
  const churned = trainingCustomers.map((c) => !retainedIn(c, cut, asOf));
  options.progress?.('risk model (logistic regression)');
  let logistic;
  try {
    logistic = fitLogistic(rows, churned);
  } catch (e) {
    throw e instanceof RangeError ? new ChurnFitError(e.message) : e;
  }
  options.progress?.('BG/NBD on the whole history');
  const bgNbd = fitPurchases(customers, asOf, new Date(asOf).toISOString());
  const trainingModel: RiskModel = {
    name: CHURN_MODEL_NAME,
    version: options.version,
    horizonDays,
    trainingWindowDays: windowDays,
    bandThresholds: options.bandThresholds ?? DEFAULT_BAND_THRESHOLDS,
    bgNbd: bgNbdAtCut.params,
    intercept: logistic.intercept,
    features: logistic.features,
  };
  const trainingScores = trainingCustomers.map((c, i) => scoreFeatures(trainingModel, { values: rows[i], reasons: {} as never }).logOdds);
  return {
    name: CHURN_MODEL_NAME,
    version: options.version,
    asOf: new Date(asOf).toISOString(),
    horizonDays,
    trainingWindowDays: windowDays,
    bandThresholds: trainingModel.bandThresholds,
    bgNbd: { ...bgNbd.params, logLikelihood: bgNbd.logLikelihood, customers: bgNbd.customers },
    intercept: logistic.intercept,
    features: logistic.features,
    figures: {
      trainingCustomers: trainingCustomers.length,
      churnRate: churned.filter(Boolean).length / churned.length,
      trainingAuc: auc(trainingScores, churned),
      logLoss: logistic.logLoss,
    },
  };
}

export const riskModelOf = (fitted: ChurnModelFittedV1): RiskModel => ({
  name: fitted.name,
  version: fitted.version,
  horizonDays: fitted.horizonDays,
  trainingWindowDays: fitted.trainingWindowDays,
  bandThresholds: fitted.bandThresholds,
  bgNbd: { r: fitted.bgNbd.r, alpha: fitted.bgNbd.alpha, a: fitted.bgNbd.a, b: fitted.bgNbd.b },
  intercept: fitted.intercept,
  features: fitted.features,
});

export interface BacktestReport {
  asOf: string;
  horizonDays: number;
  customers: number;
  churned: number;
  churnRate: number;
  /** AUC of the risk model's probability against "no commercial activity in the horizon" */
  auc: number;
  /** AUC of BG/NBD alone (fewer expected purchases in the horizon = more risk), same fit, same customers */
  baselineAuc: number;
  bands: BandFigures[];
  calibration: CalibrationDecile[];
  topDecileLift: number;
  baselineTopDecileLift: number;
  /** how often each factor is the largest push towards churn, most frequent first */
  topFactors: { name: string; customers: number }[];
  model: ChurnModelFittedV1;
}

/**
 * Fits on the history before `asOf`, scores every customer known then, and checks who stayed a
 * customer (retainedIn) in [asOf, asOf + horizon). BG/NBD alone is scored side by side.
 */
export function backtestChurnModel(all: Iterable<ChurnFacts>, options: ChurnFitOptions): BacktestReport {
  const facts = [...all];
  const fitted = fitChurnModel(facts, options);
  const model = riskModelOf(fitted);
  const bgNbd = { r: fitted.bgNbd.r, alpha: fitted.bgNbd.alpha, a: fitted.bgNbd.a, b: fitted.bgNbd.b };
  const { asOf, horizonDays } = options;
  const customers = live(facts, asOf);
  options.progress?.(`scoring ${customers.length} customers`);
  const end = asOf + horizonDays * DAY_MS;
  const churned: boolean[] = [];
  const probabilities: number[] = [];
  const baseline: number[] = [];
  const bands: ChurnBand[] = [];
  const top = new Map<string, number>();
  for (const c of customers) {
    const score = scoreFeatures(model, churnFeatures(c, asOf, { bgNbd: model.bgNbd, windowDays: model.trainingWindowDays }));
    probabilities.push(score.probability);
    bands.push(score.band);
    const towards = score.factors.find((f) => f.contribution > 0);
    if (towards) top.set(towards.name, (top.get(towards.name) ?? 0) + 1);
    const summary = purchaseSummary(c, asOf);
    baseline.push(summary ? -conditionalExpectedPurchases(bgNbd, horizonDays / 7, summary) : 0);
    churned.push(!retainedIn(c, asOf, end));
  }
  const churners = churned.filter(Boolean).length;
  return {
    asOf: new Date(asOf).toISOString(),
    horizonDays,
    customers: customers.length,
    churned: churners,
    churnRate: churners / customers.length,
    auc: auc(probabilities, churned),
    baselineAuc: auc(baseline, churned),
    bands: bandFigures(bands, churned),
    calibration: calibration(probabilities, churned),
    topDecileLift: topDecileLift(probabilities, churned),
    baselineTopDecileLift: topDecileLift(baseline, churned),
    topFactors: [...top]
      .map(([name, n]) => ({ name, customers: n }))
      .sort((a, b) => b.customers - a.customers || a.name.localeCompare(b.name)),
    model: fitted,
  };
}
