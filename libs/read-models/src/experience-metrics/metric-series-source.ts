import { DateTime } from 'luxon';
import type { ExperienceMetricsQueries } from './experience-metrics.query';
import { isMetricName, METRIC_NAMES, METRICS, type MetricDefinition } from './metric-catalogue';
import { DIMENSIONS } from './slices';

/** One bucket of a metric on one slice: start and end instants (UTC), the metric's headline value (null: no data). */
export interface MetricSeriesPoint {
  start: string;
  end: string;
  value: number | null;
}

/**
 * The metric series other read models compute from (programme targets): one metric, one optional
 * slice (`{ dimension, value }`, or null for the totals), the buckets from the one holding `from` to
 * the one holding `through` (local dates YYYY-MM-DD in the reporting time zone, both inclusive).
 * Throws MetricQueryError naming a bad parameter. Structurally a targets TargetMetricSource.
 */
export function metricSeriesSource(queries: ExperienceMetricsQueries) {
  return {
    // a target can be set only on a metric this process can answer (cost-to-serve needs CONTACT_COSTS)
    metricNames: METRIC_NAMES.filter((m) => queries.canAnswer(m)) as readonly string[],
    dimensions: DIMENSIONS as readonly string[],
    unslicedMetrics: METRIC_NAMES.filter((m) => (METRICS[m] as MetricDefinition).unsliced) as readonly string[],
    unavailableReason(metric: string): string | undefined {
      if (!isMetricName(metric)) return `${metric} is no longer a metric of this deployment`;
      return queries.canAnswer(metric) ? undefined : queries.missingSettingOf(metric);
    },
    async series(q: {
      metric: string;
      bucket: string;
      from: string;
      through: string;
      slice: { dimension: string; value: string } | null;
    }): Promise<MetricSeriesPoint[]> {
      const to = DateTime.fromISO(q.through, { zone: 'UTC' }).plus({ days: 1 }).toISODate() ?? q.through;
      const answer = await queries.seriesOf({
        metric: q.metric,
        bucket: q.bucket,
        from: q.from,
        to,
        ...(q.slice ? { filter: `${q.slice.dimension}:${q.slice.value}` } : {}),
      });
      return answer.series[0].points.map((p) => ({ start: p.start, end: p.end, value: p.value }));
    },
  };
}
