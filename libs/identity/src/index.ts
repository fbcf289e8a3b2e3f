export * from './port';
export * from './sqlite/sqlite-identity-registry';
