import { defineReadModel } from '../kit/read-model';
import { segmentsContractEvents, segmentsContractQueries } from './segments.contract-queries';
import { SegmentsProjection } from './segments.projection';
import { SegmentsQueries } from './segments.query';
import { SEGMENTS, SEGMENTS_TABLES, segmentsMigrations, type SegmentsTables } from './segments.schema';

/** Analyst-defined segments: definitions (each version), customer facts and live membership (docs/segments.md). */
export const segments = defineReadModel<SegmentsTables>()({
  name: SEGMENTS,
  version: 1,
  tables: SEGMENTS_TABLES,
  migrations: segmentsMigrations,
  projection: SegmentsProjection,
  queries: (db, { now }) => new SegmentsQueries(db, now),
  contractQueries: segmentsContractQueries,
  contractEvents: segmentsContractEvents,
});

export * from './segment-rule';
export * from './segments.model';
export * from './segments.projection';
export * from './segments.query';
export * from './segments.schema';
export * from './segments.job';
