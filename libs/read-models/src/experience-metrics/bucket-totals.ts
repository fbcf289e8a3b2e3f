import { addToBins, mergeBins, type Bins } from './quantile-bins';

/*
 * What one bucket row holds: additive counters and percentile bins, for one (granularity, bucket,
 * dimension, slice). Everything adds (and subtracts, for a case whose facts are revised), so late
 * events, revised cases and the rows of several buckets combine by addition.
 */
export const COUNTERS = [
  // survey.answered
  'npsPromoters',
  'npsPassives',
  'npsDetractors',
  'csatResponses',
  'csatSum',
  'csatSatisfied',
  'cesResponses',
  'cesSum',
  'cesLowEffort',
  // contact.handled
  'contacts',
  'contactsWithReason',
  // contacts with a reason that are repeats (repeat-contacts.ts), counted in the repeat's own bucket
  'repeatContacts',
  'handleSecondsSum',
  'waitContacts',
  'waitSecondsSum',
  // cases, counted per case id (case-facts.ts)
  'casesOpened',
  'casesFinished',
  'casesResolved',
  'resolutionMsSum',
  'casesReopened',
  'casesEscalated',
  'casesFcrKnown',
  'casesFcr',
  // commerce and complaints
  'purchases',
  'purchaseUnits',
  'refunds',
  'refundUnits',
  'cancellations',
  'complaints',
  // customers whose first event is in the bucket (merged customers once, at the earliest): unsliced rows only
  'customersFirstSeen',
  // lifecycle (customer-lifecycle.ts), unsliced rows only: customers becoming live (acquired, won back) and
  // churning, per instant; per customer and bucket, whether it churned in it and whether it was lost in it
  'lifeStarts',
  'lifeEnds',
  'customersAcquired',
  'customersWonBack',
  'customersChurned',
  'customersLost',
] as const;
export type Counter = (typeof COUNTERS)[number];

/**
 * Counts per key: the percentile bins of a duration (key = bin), or handled contacts per channel
 * (`contactChannels`, key = channel: what cost-to-serve prices at query time).
 */
export const MEASURES = ['handleSeconds', 'waitSeconds', 'resolutionSeconds', 'contactChannels'] as const;
export type Measure = (typeof MEASURES)[number];

/** A bucket row's content; counters and bins absent while zero. */
export interface BucketTotals {
  c: Partial<Record<Counter, number>>;
  h: Partial<Record<Measure, Bins>>;
}

export const emptyTotals = (): BucketTotals => ({ c: {}, h: {} });

export function addCounter(t: BucketTotals, counter: Counter, n: number): void {
  const v = (t.c[counter] ?? 0) + n;
  if (v === 0) delete t.c[counter];
  else t.c[counter] = v;
}

export function addToMeasure(t: BucketTotals, measure: Measure, bin: string, weight: number): void {
  const bins = (t.h[measure] ??= {});
  addToBins(bins, bin, weight);
  if (Object.keys(bins).length === 0) delete t.h[measure];
}

/** Adds `from` into `into` (`sign` -1 subtracts). */
export function addTotals(into: BucketTotals, from: BucketTotals, sign: 1 | -1 = 1): void {
  for (const k of Object.keys(from.c) as Counter[]) addCounter(into, k, sign * from.c[k]!);
  for (const m of Object.keys(from.h) as Measure[]) {
    if (sign === 1) {
      mergeBins((into.h[m] ??= {}), from.h[m]!);
      if (Object.keys(into.h[m]!).length === 0) delete into.h[m];
    } else for (const [bin, n] of Object.entries(from.h[m]!)) addToMeasure(into, m, bin, -n);
  }
}

/**
 * A contribution's counters and bins listed once, to add to the many rows an event adds to (its day,
 * week and month, unsliced, per slice and per pair of slices: about 21): addListed is addTotals
 * without listing the contribution's keys again for every row.
 */
export interface ListedTotals {
  counters: readonly (readonly [Counter, number])[];
  measures: readonly (readonly [Measure, readonly (readonly [string, number])[]])[];
}

export const listTotals = (t: BucketTotals): ListedTotals => ({
  counters: (Object.keys(t.c) as Counter[]).map((k) => [k, t.c[k]!] as const),
  measures: (Object.keys(t.h) as Measure[]).map((m) => [m, Object.entries(t.h[m]!)] as const),
});

/** addTotals(into, from, sign) for a listed contribution: the same row afterwards. */
export function addListed(into: BucketTotals, from: ListedTotals, sign: 1 | -1): void {
  for (const [k, n] of from.counters) addCounter(into, k, sign * n);
  for (const [m, bins] of from.measures) {
    const target = (into.h[m] ??= {});
    for (const [bin, n] of bins) addToBins(target, bin, sign * n);
    if (Object.keys(target).length === 0) delete into.h[m];
  }
}

export const isEmptyTotals = (t: BucketTotals): boolean => Object.keys(t.c).length === 0 && Object.keys(t.h).length === 0;

const sortedObject = <V>(o: Record<string, V>, value: (v: V) => unknown = (v) => v): Record<string, unknown> =>
  Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, value(o[k])]),
  );

/** Stored form: keys sorted, so a rebuild at any batch size writes the same bytes. */
export const totalsJson = (t: BucketTotals): string =>
  JSON.stringify({ c: sortedObject(t.c), h: sortedObject(t.h as Record<string, Record<string, number>>, (bins) => sortedObject(bins)) });

const COUNTERS_PREFIX = '{"c":';
/**
 * The counters of a stored row, without parsing its bins (most of a row's text): totalsJson writes
 * `{"c":{...},"h":{...}}`, `c` first and holding numbers only, so its object ends at the first `}`.
 * For the metrics that read no bins (MetricDefinition.readsMeasures); anything else is parsed whole.
 */
export function countersOfJson(json: string): BucketTotals {
  if (!json.startsWith(COUNTERS_PREFIX)) return JSON.parse(json) as BucketTotals;
  return { c: JSON.parse(json.slice(COUNTERS_PREFIX.length, json.indexOf('}') + 1)) as BucketTotals['c'], h: {} };
}
