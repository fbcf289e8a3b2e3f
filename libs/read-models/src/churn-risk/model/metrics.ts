import type { ChurnBand } from '@cem/domain';
import { BANDS } from './risk-model';

/**
 * Area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counted half (Mann-Whitney U with average ranks).
 */
export function auc(scores: readonly number[], positive: readonly boolean[]): number {
  const idx = scores.map((s, i) => ({ s, p: positive[i] })).sort((a, b) => a.s - b.s);
  let rankSumPositive = 0;
  let positives = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j < idx.length && idx[j].s === idx[i].s) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (idx[k].p) {
        rankSumPositive += averageRank;
        positives++;
      }
    }
    i = j;
  }
  const negatives = idx.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSumPositive - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export interface BandFigures {
  band: ChurnBand;
  customers: number;
  churned: number;
  /** churned / customers in the band */
  precision: number;
  /** churned in the band / all churned */
  recall: number;
}

export function bandFigures(bands: readonly ChurnBand[], churned: readonly boolean[]): BandFigures[] {
  const totalChurned = churned.filter(Boolean).length;
  return BANDS.map((band) => {
    let customers = 0;
    let c = 0;
    bands.forEach((b, i) => {
      if (b !== band) return;
      customers++;
      if (churned[i]) c++;
    });
    return { band, customers, churned: c, precision: customers ? c / customers : 0, recall: totalChurned ? c / totalChurned : 0 };
  });
}

export interface CalibrationDecile {
  decile: number;
  customers: number;
  predicted: number;
  observed: number;
}

/** Customers in ten groups of rising predicted probability: mean predicted vs observed churn rate. */
export function calibration(probabilities: readonly number[], churned: readonly boolean[]): CalibrationDecile[] {
  const order = probabilities.map((p, i) => i).sort((a, b) => probabilities[a] - probabilities[b] || a - b);
  const out: CalibrationDecile[] = [];
  for (let d = 0; d < 10; d++) {
    const part = order.slice(Math.floor((d * order.length) / 10), Math.floor(((d + 1) * order.length) / 10));
    if (part.length === 0) continue;
    out.push({
      decile: d + 1,
      customers: part.length,
      predicted: part.reduce((s, i) => s + probabilities[i], 0) / part.length,
      observed: part.filter((i) => churned[i]).length / part.length,
    });
  }
  return out;
}

/** Churn rate among the 10% highest scores over the overall churn rate. */
export function topDecileLift(scores: readonly number[], churned: readonly boolean[]): number {
  const order = scores.map((s, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const top = order.slice(0, Math.max(1, Math.floor(order.length / 10)));
  const overall = churned.filter(Boolean).length / churned.length;
  return top.filter((i) => churned[i]).length / top.length / overall;
}
