export * from './config';
export * from './experience-metrics-settings';
export * from './views';
export * from './boot';
export * from './logger';
