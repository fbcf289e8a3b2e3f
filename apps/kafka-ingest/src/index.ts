export * from './ingestion.adapter';
export * from './kafka-ingest.consumer';
export * from './health.server';
