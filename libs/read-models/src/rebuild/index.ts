export * from './rebuild-registry';
export * from './blue-green-rebuild';
