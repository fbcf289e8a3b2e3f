import { LogarithmicMapping } from '@datadog/sketches-js/dist/ddsketch/mapping';

/*
 * Percentiles with a guaranteed error bound: a DDSketch, i.e. values counted in logarithmic bins
 * whose mapping (LogarithmicMapping of Datadog's @datadog/sketches-js) guarantees that every value
 * of a bin is within RELATIVE_ACCURACY of the bin's representative value. The bins are kept as a
 * plain `{ key: count }` object so that bucket rows add and subtract them: a case whose resolution
 * is revised (reopened, resolved again) leaves its old bin and enters the new one, which the
 * library's sketch (add-only) cannot do. Value 0 (and anything below the mapping's smallest value)
 * has its own bin `z`.
 *
 * The percentile is the nearest-rank one (the value at rank ceil(p * n), 1-based, of the sorted
 * values); the answer is within RELATIVE_ACCURACY of that exact value.
 */
export const RELATIVE_ACCURACY = 0.005;
const mapping = new LogarithmicMapping(RELATIVE_ACCURACY);
const ZERO = 'z';

export type Bins = Record<string, number>;

export const binOf = (value: number): string => (value <= mapping.minPossible ? ZERO : String(mapping.key(value)));

/** Adds `weight` (negative: removes) to the bin of `value`; an emptied bin is deleted. */
export function addToBins(bins: Bins, key: string, weight: number): void {
  const n = (bins[key] ?? 0) + weight;
  if (n === 0) delete bins[key];
  else bins[key] = n;
}

export function mergeBins(into: Bins, from: Bins): void {
  for (const key of Object.keys(from)) addToBins(into, key, from[key]);
}

/** Nearest-rank percentile (0 < p <= 1) of the counted values, within RELATIVE_ACCURACY; null when empty. */
export function percentileOf(bins: Bins, p: number): number | null {
  return percentilesOf(bins, [p])[0];
}

/**
 * Nearest-rank percentiles of the counted values for each of `ps` (any order), within
 * RELATIVE_ACCURACY; nulls when empty. The bins are sorted once for all of them (a series asks p50
 * and p90 of every point).
 */
export function percentilesOf(bins: Bins, ps: readonly number[]): (number | null)[] {
  const keys = Object.keys(bins);
  let n = 0;
  for (const k of keys) n += bins[k];
  if (n <= 0) return ps.map(() => null);
  const sorted = keys.length > 1 ? keys.sort((a, b) => (a === ZERO ? -1 : b === ZERO ? 1 : Number(a) - Number(b))) : keys;
  return ps.map((p) => {
    const rank = Math.max(1, Math.ceil(p * n));
    let seen = 0;
    for (const k of sorted) {
      seen += bins[k];
      if (seen >= rank) return k === ZERO ? 0 : mapping.value(Number(k));
    }
    return null;
  });
}
