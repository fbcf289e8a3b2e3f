export * from './port';
export * from './sqlite/sqlite-identity-registry';
export * from './esdb/esdb-identity-registry';
