export * from './api-keys';
export * from './platform';
