export * from './customer-as-of';
