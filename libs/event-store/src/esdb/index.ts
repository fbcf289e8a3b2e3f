export * from './esdb-event-store';
export * from './esdb-subscription';
export * from './errors';
export * from './naming';
export * from './records';
