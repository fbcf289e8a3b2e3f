export * from './config';
export * from './views';
export * from './boot';
export * from './logger';
