export * from './port';
export * from './errors';
export * from './content-hash';
export * from './transient';
export * from './sqlite/sqlite-event-store';
export * from './sqlite/migrations';
export * from './esdb';
export * from './sqlite/background-checkpointer';
