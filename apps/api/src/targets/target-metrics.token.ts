/** Injection token of the TargetMetricSource (libs/read-models/src/targets/target-metrics.ts) targets read their metric from. */
export const TARGET_METRICS = Symbol('TARGET_METRICS');
