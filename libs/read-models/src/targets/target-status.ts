import type { TargetDefinition } from '@cem/domain';

/** One bucket of the target's metric series: its instants (ISO-8601 UTC) and value (null: no data). */
export interface TargetPoint {
  start: string;
  end: string;
  value: number | null;
}

/**
 * `unavailable`: the deployment cannot compute the target's metric now (a target on cost-to-serve
 * created while CONTACT_COSTS was set, read after the setting was removed); the reason says why.
 */
export const TARGET_STATUSES = ['on-track', 'at-risk', 'met', 'missed', 'unavailable'] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

/** The fewest complete buckets with a value a trend is fitted through. */
export const MIN_TREND_POINTS = 3;

export interface TargetEvaluation {
  /** the instant evaluated at (ISO-8601 UTC) */
  at: string;
  status: TargetStatus;
  /** why, in words */
  reason: string;
  /** the latest complete bucket's value, and that bucket's start */
  current: number | null;
  currentBucket: string | null;
  /** the trend line's value at the end of the due date's bucket (null with fewer than 3 points) */
  projected: number | null;
  /** the trend's change per 30 days */
  slopePer30Days: number | null;
  /** complete buckets with a value the evaluation read */
  points: number;
}

const DAY_MS = 86_400_000;

/** The evaluation of a target whose metric cannot be computed now: no value, no trend, the reason. */
export const unavailableEvaluation = (atMs: number, reason: string): TargetEvaluation => ({
  at: new Date(atMs).toISOString(),
  status: 'unavailable',
  reason,
  current: null,
  currentBucket: null,
  projected: null,
  slopePer30Days: null,
  points: 0,
});
const round = (x: number) => Math.round(x * 10_000) / 10_000;
const meets = (t: Pick<TargetDefinition, 'direction' | 'threshold'>, value: number) =>
  t.direction === 'at-least' ? value >= t.threshold : value <= t.threshold;

/**
 * The documented status method (docs/milestones-and-targets.md), pure: `points` are the target's
 * buckets from the one holding startDate to the one holding dueDate, in order.
 *
 * - A bucket counts once complete (its end at or before `at`): a month in progress is not read.
 * - After the due date's bucket is complete: **met** if its value meets the threshold, **missed**
 *   otherwise (no data in it: missed).
 * - Before: an ordinary least-squares line through the complete buckets' values (x = bucket
 *   midpoint), at least 3 of them, is extended to the end of the due date's bucket: **on-track**
 *   if that projection meets the threshold, **at-risk** if not. With fewer than 3 values the latest
 *   value decides the same way; with none the target is at risk (nothing shows it moving).
 */
export function evaluateTarget(
  target: Pick<TargetDefinition, 'direction' | 'threshold'>,
  points: readonly TargetPoint[],
  atMs: number,
): TargetEvaluation {
  const at = new Date(atMs).toISOString();
  const complete = points.filter((p) => Date.parse(p.end) <= atMs);
  const known = complete.filter((p): p is TargetPoint & { value: number } => p.value !== null);
  const latest = known[known.length - 1];
  const base = { at, current: latest?.value ?? null, currentBucket: latest?.start ?? null, points: known.length };
  const final = points[points.length - 1];
  if (final && Date.parse(final.end) <= atMs) {
    if (final.value === null)
      return { ...base, status: 'missed', reason: 'no data in the due date’s bucket', projected: null, slopePer30Days: null };
    const ok = meets(target, final.value);
    return {
      ...base,
      status: ok ? 'met' : 'missed',
      reason: `the due date’s bucket ${ok ? 'meets' : 'does not meet'} the threshold (${final.value} ${target.direction === 'at-least' ? '>=' : '<='} ${target.threshold}: ${ok})`,
      projected: null,
      slopePer30Days: null,
    };
  }
  if (known.length === 0)
    return { ...base, status: 'at-risk', reason: 'no complete bucket with data yet', projected: null, slopePer30Days: null };
  if (known.length < MIN_TREND_POINTS) {
    const ok = meets(target, latest.value);
    return {
      ...base,
      status: ok ? 'on-track' : 'at-risk',
      reason: `fewer than ${MIN_TREND_POINTS} complete buckets: the latest value ${ok ? 'meets' : 'does not meet'} the threshold`,
      projected: null,
      slopePer30Days: null,
    };
  }
  const xs = known.map((p) => (Date.parse(p.start) + Date.parse(p.end)) / 2 / DAY_MS);
  const ys = known.map((p) => p.value);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const dueX = Date.parse(final!.end) / DAY_MS;
  const projected = my + slope * (dueX - mx);
  const ok = meets(target, projected);
  return {
    ...base,
    status: ok ? 'on-track' : 'at-risk',
    reason: `the trend through ${n} complete buckets ${ok ? 'meets' : 'does not meet'} the threshold by the due date`,
    projected: round(projected),
    slopePer30Days: round(slope * 30),
  };
}

/**
 * The status at the end of each complete bucket so far (and at `at`): how the target stood over
 * time, recomputed from today's data (a late event changes the past buckets it belongs to).
 */
export function targetHistory(
  target: Pick<TargetDefinition, 'direction' | 'threshold'>,
  points: readonly TargetPoint[],
  atMs: number,
): TargetEvaluation[] {
  const ends = points.map((p) => Date.parse(p.end)).filter((end) => end <= atMs);
  return ends.map((end) => evaluateTarget(target, points, end));
}
