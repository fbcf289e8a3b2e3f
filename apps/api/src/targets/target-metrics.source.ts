import type { ReadSide } from '@cem/read-models';
import { EXPERIENCE_METRICS, metricSeriesSource } from '@cem/read-models/experience-metrics';
import type { TargetMetricSource } from '@cem/read-models/targets';

/** The metric source targets read: the experience-metrics read model of the read side. */
export function targetMetricSourceOf(readSide: ReadSide): TargetMetricSource | undefined {
  return metricSeriesSource(readSide.queries[EXPERIENCE_METRICS]);
}
