export * from './config';
export * from './dead-letter';
export * from './ingestion.port';
export * from './ingestion.adapter';
export * from './kafka-client';
export * from './kafka-ingest.consumer';
export * from './redrive';
export * from './logger';
