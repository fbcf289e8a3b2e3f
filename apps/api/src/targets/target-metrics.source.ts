import type { ReadSide } from '@cem/read-models';
import type { TargetMetricSource } from '@cem/read-models/targets';

/**
 * The metric source targets read: the experience-metrics read model of the read side. Undefined
 * while this build has none, and the target endpoints answer 503 `metrics_unavailable`.
 */
export function targetMetricSourceOf(_readSide: ReadSide): TargetMetricSource | undefined {
  return undefined;
}
