export * from './signals.config';
