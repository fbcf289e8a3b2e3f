export * from './port';
export * from './registry-state';
export * from './sqlite/sqlite-identity-registry';
export * from './esdb/esdb-identity-registry';
