import { jStat } from 'jstat';
import { nelderMead } from './nelder-mead';

/**
 * The BG/NBD model of Fader, Hardie & Lee (2005), "Counting your customers the easy way": while
 * alive a customer buys at rate lambda ~ Gamma(r, alpha); after each purchase they drop out with
 * probability p ~ Beta(a, b). Time is in weeks, as in the paper.
 */
export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

/** A customer's purchase summary: x repeat purchases, the last at t_x, observed for T since the first (weeks). */
export interface PurchaseSummary {
  x: number;
  tx: number;
  T: number;
}

const lnGamma = (z: number): number => jStat.gammaln(z);

/** The individual log-likelihood, eq. (6) of the paper, written with the A1..A4 terms of its appendix. */
export function bgNbdLogLikelihood({ r, alpha, a, b }: BgNbdParams, { x, tx, T }: PurchaseSummary): number {
  const a1 = lnGamma(r + x) - lnGamma(r) + r * Math.log(alpha);
  const a2 = lnGamma(a + b) + lnGamma(b + x) - lnGamma(b) - lnGamma(a + b + x);
  const a3 = -(r + x) * Math.log(alpha + T);
  if (x === 0) return a1 + a2 + a3;
  const a4 = Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + tx);
  const m = Math.max(a3, a4);
  return a1 + a2 + m + Math.log(Math.exp(a3 - m) + Math.exp(a4 - m));
}

/**
 * Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 by its power series (the BG/NBD
 * expectations only need z = t / (alpha + T + t) < 1). Converges geometrically in z.
 */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(z >= 0 && z < 1)) throw new RangeError(`hyp2f1: z must be in [0, 1), got ${z}`);
  let term = 1;
  let sum = 1;
  for (let j = 0; j < 100_000; j++) {
    term *= (((a + j) * (b + j)) / ((c + j) * (j + 1))) * z;
    sum += term;
    if (Math.abs(term) < 1e-15 * Math.abs(sum)) return sum;
  }
  return sum;
}

/** E[X(t)]: expected purchases of a new customer in (0, t], eq. (7). */
export function expectedPurchases({ r, alpha, a, b }: BgNbdParams, t: number): number {
  if (t <= 0) return 0;
  return ((a + b - 1) / (a - 1)) * (1 - Math.pow(alpha / (alpha + t), r) * hyp2f1(r, b, a + b - 1, t / (alpha + t)));
}

/** P(alive | x, t_x, T): the probability the customer has not dropped out by T (paper, appendix). */
export function probabilityAlive({ r, alpha, a, b }: BgNbdParams, { x, tx, T }: PurchaseSummary): number {
  if (x === 0) return 1;
  return 1 / (1 + (a / (b + x - 1)) * Math.exp((r + x) * (Math.log(alpha + T) - Math.log(alpha + tx))));
}

/** E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] of a customer with this history, eq. (10). */
export function conditionalExpectedPurchases(params: BgNbdParams, t: number, summary: PurchaseSummary): number {
  const { r, alpha, a, b } = params;
  const { x, T } = summary;
  if (t <= 0) return 0;
  const z = t / (alpha + T + t);
  const numerator =
    ((a + b + x - 1) / (a - 1)) * (1 - Math.pow((alpha + T) / (alpha + T + t), r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z));
  return numerator * probabilityAlive(params, summary);
}

export interface BgNbdFit {
  params: BgNbdParams;
  logLikelihood: number;
  customers: number;
  iterations: number;
  converged: boolean;
}

/**
 * Maximum-likelihood fit (Nelder-Mead on the logarithms of the four parameters, so they stay
 * positive; starting at 1, 1, 1, 1). Identical summaries are grouped first, so the cost is per
 * distinct (x, t_x, T), and the result depends only on the multiset of summaries: deterministic.
 */
export function fitBgNbd(summaries: readonly PurchaseSummary[]): BgNbdFit {
  if (summaries.length === 0) throw new RangeError('BG/NBD fit: no customer with a purchase');
  if (!summaries.some((s) => s.x > 0)) throw new RangeError('BG/NBD fit: no customer with a repeat purchase');
  const groups = new Map<string, { s: PurchaseSummary; n: number }>();
  for (const s of summaries) {
    const key = `${s.x}|${s.tx}|${s.T}`;
    const g = groups.get(key);
    if (g) g.n++;
    else groups.set(key, { s, n: 1 });
  }
  const rows = [...groups.values()].sort((p, q) => p.s.x - q.s.x || p.s.tx - q.s.tx || p.s.T - q.s.T);
  const negLl = (logParams: readonly number[]) => {
    const params = { r: Math.exp(logParams[0]), alpha: Math.exp(logParams[1]), a: Math.exp(logParams[2]), b: Math.exp(logParams[3]) };
    let ll = 0;
    for (const { s, n } of rows) ll += n * bgNbdLogLikelihood(params, s);
    return -ll;
  };
  // two restarts from the first optimum: the simplex can stall on the likelihood's flat ridges
  let result = nelderMead(negLl, [0, 0, 0, 0], { maxIterations: 4000 });
  for (let i = 0; i < 2; i++) result = nelderMead(negLl, result.x, { maxIterations: 4000, step: 0.1 });
  const [r, alpha, a, b] = result.x.map(Math.exp);
  return {
    params: { r, alpha, a, b },
    logLikelihood: -result.fx,
    customers: summaries.length,
    iterations: result.iterations,
    converged: result.converged,
  };
}
