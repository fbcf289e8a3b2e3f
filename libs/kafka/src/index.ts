export * from './kafka-client';
export * from './dead-letter';
export * from './redrive';
