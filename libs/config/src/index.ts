export * from './config';
export * from './contact-costs';
export * from './views';
export * from './boot';
export * from './logger';
