/** Injection token of the process's prom-client Registry. */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
