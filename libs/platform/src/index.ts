export * from './api-keys';
export * from './platform';
export * from './ops-actions';
export * from './log-actions';
export * from './log-sealer';
export * from './erasure';
export * from './unmerge';
export * from './subject-export';
