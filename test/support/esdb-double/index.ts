export * from './esdb-double';
