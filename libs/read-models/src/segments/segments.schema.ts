import type { Kysely, Migration } from 'kysely';

/** One row per segment: its latest definition (SegmentDefinition as JSON) and whether it is archived. */
export interface SgSegmentsTable {
  segment_id: string;
  version: number;
  definition: string;
  /** 1 once archived: no members from then on */
  archived: number;
  created_at: string;
  updated_at: string;
  changed_by: string;
  last_position: number;
}

/** Every version of every segment: created, changed, archived (definition null for archived). */
export interface SgChangesTable {
  segment_id: string;
  version: number;
  kind: string;
  position: number;
  occurred_at: string;
  changed_by: string;
  definition: string | null;
}

/** One row per customer id ever seen: the facts and memberships (segments.model.ts) as a JSON document. */
export interface SgCustomersTable {
  customer_id: string;
  merged_into: string | null;
  last_position: number;
  doc: string;
}

/** One row per live customer and segment it is in, as the segment events in the log say. */
export interface SgMembersTable {
  segment_id: string;
  customer_id: string;
  /** when the customer entered (the evaluation instant of its segment.entered) */
  since: string;
  /** the definition version it entered (or was last changed) under */
  version: number;
  /** 1: the entry was exported and signalled (the consent was held at entry) */
  activated: number;
}

/** The latest consent of each live customer and purpose (1 granted, 0 withdrawn). */
export interface SgConsentsTable {
  customer_id: string;
  purpose: string;
  granted: number;
}

/** Entries and exits per segment and UTC day of the evaluation: the size trend (a running sum). */
export interface SgDailyTable {
  segment_id: string;
  day: string;
  entered: number;
  exited: number;
}

/**
 * Where the scheduled evaluation of each segment stands (SegmentEvaluation), written by the process
 * that runs the scheduler and read by every API process (PROJECTOR=external too). Not derived from the
 * log: not in SEGMENTS_TABLES, so a rebuild neither empties it nor counts it in the checksums.
 */
export interface SgEvaluationsTable {
  segment_id: string;
  version: number;
  state: string;
  evaluated: number;
  total: number;
  pending: number;
  as_of: string;
}

export interface SegmentsTables {
  sg_segments: SgSegmentsTable;
  sg_changes: SgChangesTable;
  sg_customers: SgCustomersTable;
  sg_members: SgMembersTable;
  sg_consents: SgConsentsTable;
  sg_daily: SgDailyTable;
  sg_evaluations: SgEvaluationsTable;
}

export const SEGMENTS = 'segments';
export const SEGMENTS_TABLES = ['sg_daily', 'sg_consents', 'sg_members', 'sg_customers', 'sg_changes', 'sg_segments'] as const;

export const segmentsMigrations: Record<string, Migration> = {
  'segments-0001-tables': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sg_segments')
        .addColumn('segment_id', 'text', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('archived', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('changed_by', 'text', (c) => c.notNull())
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sg_changes')
        .addColumn('segment_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .addColumn('occurred_at', 'text', (c) => c.notNull())
        .addColumn('changed_by', 'text', (c) => c.notNull())
        .addColumn('definition', 'text')
        .addPrimaryKeyConstraint('sg_changes_pk', ['segment_id', 'version'])
        .execute();
      await db.schema
        .createTable('sg_customers')
        .addColumn('customer_id', 'text', (c) => c.primaryKey())
        .addColumn('merged_into', 'text')
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sg_members')
        .addColumn('segment_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('since', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('activated', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('sg_members_pk', ['segment_id', 'customer_id'])
        .execute();
      await db.schema.createIndex('sg_members_customer').on('sg_members').columns(['customer_id']).execute();
      await db.schema
        .createTable('sg_consents')
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('granted', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('sg_consents_pk', ['customer_id', 'purpose'])
        .execute();
      await db.schema.createIndex('sg_consents_purpose').on('sg_consents').columns(['purpose', 'granted']).execute();
      await db.schema
        .createTable('sg_daily')
        .addColumn('segment_id', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('entered', 'integer', (c) => c.notNull())
        .addColumn('exited', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('sg_daily_pk', ['segment_id', 'day'])
        .execute();
    },
  },
  'segments-0002-evaluations': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sg_evaluations')
        .addColumn('segment_id', 'text', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('evaluated', 'integer', (c) => c.notNull())
        .addColumn('total', 'integer', (c) => c.notNull())
        .addColumn('pending', 'integer', (c) => c.notNull())
        .addColumn('as_of', 'text', (c) => c.notNull())
        .execute();
    },
  },
};
