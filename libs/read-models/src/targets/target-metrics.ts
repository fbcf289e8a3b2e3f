import type { TargetDefinition } from '@cem/domain';
import { evaluateTarget, targetHistory, unavailableEvaluation, type TargetEvaluation, type TargetPoint } from './target-status';
import type { TargetView } from './targets.query';

/**
 * What targets need of the experience metrics (a port: the experience-metrics read model is its
 * adapter): the metric and slice names a target may use, and one metric's series on one slice.
 */
export interface TargetMetricSource {
  readonly metricNames: readonly string[];
  readonly dimensions: readonly string[];
  /** metrics of the whole customer base, which take no slice */
  readonly unslicedMetrics?: readonly string[];
  /** why a metric outside `metricNames` cannot be computed now (a setting it needs is missing); absent: it is unknown */
  unavailableReason?(metric: string): string | undefined;
  /**
   * The `bucket` buckets (in the reporting time zone) from the one holding `from` to the one holding
   * `through` (local dates YYYY-MM-DD, both inclusive), in order, each with the metric's value (null: no data).
   */
  series(query: {
    metric: string;
    bucket: TargetDefinition['bucket'];
    from: string;
    through: string;
    slice: TargetDefinition['slice'];
  }): Promise<TargetPoint[]>;
}

export interface TargetReport extends TargetView {
  /** the status at the instant asked about */
  status: TargetEvaluation;
  /** the status at the end of each complete bucket so far */
  history: TargetEvaluation[];
  /** the series the status was computed from */
  series: TargetPoint[];
}

/** A target with its status and status history as of `atMs`, from the metric's series. */
export async function reportTarget(view: TargetView, metrics: TargetMetricSource, atMs: number): Promise<TargetReport> {
  const t = view.target;
  // a target outlives the settings it was created under (cost-to-serve without CONTACT_COSTS now):
  // it is reported as unavailable, with the reason, instead of failing the whole answer
  if (!metrics.metricNames.includes(t.metric)) {
    const reason = metrics.unavailableReason?.(t.metric) ?? `the metric ${t.metric} is not computed by this deployment`;
    return { ...view, status: unavailableEvaluation(atMs, reason), history: [], series: [] };
  }
  const series = await metrics.series({ metric: t.metric, bucket: t.bucket, from: t.startDate, through: t.dueDate, slice: t.slice });
  return { ...view, status: evaluateTarget(t, series, atMs), history: targetHistory(t, series, atMs), series };
}

/** The problems of a target's metric and slice against the metrics catalogue, each naming its field. */
export function targetMetricProblems(
  t: Pick<TargetDefinition, 'metric' | 'slice'>,
  metrics: TargetMetricSource,
): { field: string; reason: string }[] {
  const problems: { field: string; reason: string }[] = [];
  if (!metrics.metricNames.includes(t.metric))
    problems.push({ field: 'metric', reason: `unknown metric; one of ${metrics.metricNames.join(', ')}` });
  if (t.slice && !metrics.dimensions.includes(t.slice.dimension))
    problems.push({ field: 'slice.dimension', reason: `unknown slice; one of ${metrics.dimensions.join(', ')}` });
  if (t.slice && metrics.unslicedMetrics?.includes(t.metric))
    problems.push({ field: 'slice', reason: `${t.metric} is a figure of the whole customer base: it has no slices` });
  return problems;
}
