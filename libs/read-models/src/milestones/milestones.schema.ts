import type { Kysely, Migration } from 'kysely';

/** One row per customer id ever seen: the folded facts (milestones.model.ts) as a JSON document. */
export interface MsCustomersTable {
  customer_id: string;
  /** the live survivor once merged away; null while live */
  merged_into: string | null;
  last_position: number;
  doc: string;
}

/**
 * One row per live customer and milestone: what the definitions make of the customer's facts.
 * Whether an unreached milestone is missed depends on the instant asked about: it is missed from
 * `missed_at` on (compared at query time), open before.
 */
export interface MsProgressTable {
  customer_id: string;
  milestone_id: string;
  /** month of the first touch, UTC (YYYY-MM) */
  cohort: string;
  first_touch_at: string;
  /** the earliest matching touch point, in time or not */
  matched_at: string | null;
  /** the earliest matching touch point when it came in time (no deadline, or at or before it) */
  reached_at: string | null;
  /** the log position of the event that reached it */
  reached_position: number | null;
  /** from this instant an unreached milestone is missed: its deadline, or its anchor milestone's */
  missed_at: string | null;
  /** reached_at - first_touch_at in seconds */
  seconds_to_reach: number | null;
  /** fingerprint of the milestone's definition (MilestoneDefinitions.milestoneFingerprints) */
  definition: string;
  /** 1 when a milestone.reached of this definition is the latest milestone event for it: nothing to announce */
  announced_reached: number;
  /** 1 when a milestone.missed of this definition is the latest milestone event for it */
  announced_missed: number;
}

/**
 * The milestone definitions the read model was projected with, one row per distinct set. Not in
 * the tables a rebuild empties: it is the history of definition versions.
 */
export interface MsDefinitionsTable {
  fingerprint: string;
  /** 1, 2, ... in the order the sets were first used */
  version: number;
  /** increases each time a set becomes the active one (the active set has the largest) */
  activation: number;
  definitions: string;
}

export interface MilestonesTables {
  ms_customers: MsCustomersTable;
  ms_progress: MsProgressTable;
  ms_definitions: MsDefinitionsTable;
}

export const MILESTONES = 'milestones';
/** the tables a rebuild empties (ms_definitions keeps the version history) */
export const MILESTONES_TABLES = ['ms_progress', 'ms_customers'] as const;

export const milestonesMigrations: Record<string, Migration> = {
  'milestones-0001-tables': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('ms_customers')
        .addColumn('customer_id', 'text', (c) => c.primaryKey())
        .addColumn('merged_into', 'text')
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('ms_progress')
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('milestone_id', 'text', (c) => c.notNull())
        .addColumn('cohort', 'text', (c) => c.notNull())
        .addColumn('first_touch_at', 'text', (c) => c.notNull())
        .addColumn('matched_at', 'text')
        .addColumn('reached_at', 'text')
        .addColumn('reached_position', 'bigint')
        .addColumn('missed_at', 'text')
        .addColumn('seconds_to_reach', 'bigint')
        .addPrimaryKeyConstraint('ms_progress_pk', ['customer_id', 'milestone_id'])
        .execute();
      await db.schema.createIndex('ms_progress_milestone').on('ms_progress').columns(['milestone_id', 'cohort']).execute();
      await db.schema
        .createTable('ms_definitions')
        .addColumn('fingerprint', 'text', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('activation', 'integer', (c) => c.notNull())
        .addColumn('definitions', 'text', (c) => c.notNull())
        .execute();
    },
  },
  // the milestone events already appended (the scheduler's due list reads them); the read model's
  // code version went up with it, so its rows are rebuilt with the columns filled
  'milestones-0002-announcements': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('ms_progress')
        .addColumn('definition', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
      await db.schema
        .alterTable('ms_progress')
        .addColumn('announced_reached', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('ms_progress')
        .addColumn('announced_missed', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
};
