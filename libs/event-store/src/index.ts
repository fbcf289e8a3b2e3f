// The event store's public face: the port (with its errors, the idempotency content hash and the
// one classification of transient store failures) and the two adapters. Adapter internals stay
// behind deeper paths for the few siblings that need them (e.g. '@cem/event-store/esdb/naming' for
// the EventStoreDB identity registry, '@cem/event-store/sqlite/migrations' for components keeping
// their own tables in an SQLite file).
export * from './port';
export * from './errors';
export * from './content-hash';
export * from './transient';
export { SqliteEventStore, type SqliteEventStoreOptions } from './sqlite/sqlite-event-store';
export { EsdbEventStore, type EsdbEventStoreOptions } from './esdb/esdb-event-store';
export * from './chain/log-chain';
export * from './chain/verify-log';
export * from './chain/log-file';
export * from './chain/log-transfer';
export * from './replay/replay-range';
export { CHAIN_STREAM, ChainSealConflictError, sealedHead, sealLog, verifySealedLog } from './esdb/esdb-log-chain';
export * from './chain/checkpoint';
