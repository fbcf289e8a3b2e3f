export * from './errors';
export * from './events';
export * from './identity/identifier';
export * from './catalogue/catalogue';
export * from './catalogue/upcasters';
export type * from './catalogue/payloads';
export * from './ingestion/decide-ingest';
export * from './ingestion/decide-merge';
export * from './ids';
