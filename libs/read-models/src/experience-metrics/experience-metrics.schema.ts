import type { Kysely, Migration } from 'kysely';

/** Pre-aggregated totals per (granularity, bucket, dimension, slice): a series is a range scan. */
export interface EmBucketsTable {
  /** day | week | month */
  granularity: string;
  /** dimension the slice belongs to (`all` for the unsliced totals) */
  dimension: string;
  /** the bucket's first local date in the reporting time zone, YYYY-MM-DD */
  bucket: string;
  /** the slice value (`*` for the unsliced totals) */
  slice: string;
  /** BucketTotals as JSON */
  totals: string;
}

/**
 * The same rows keyed by one column (`granularity|dimension|bucket|slice`), so a batch reads and
 * writes them in bulk (DirectSql selectByKeys / upsert). Replaces em_buckets (migration 0002).
 */
export interface EmTotalsTable extends EmBucketsTable {
  row_key: string;
}

/** One row per case id: its facts (CaseFacts as JSON), so a later event revises the case's contribution. */
export interface EmCasesTable {
  case_id: string;
  facts: string;
}

/** Per customer id, what the value segment needs (customer-keyed kit: merges followed). */
export interface EmCustomersTable {
  customer_id: string;
  merged_into: string | null;
  last_position: number;
  purchases: number;
  /** purchases minus refunds, in 1/10,000 of the major unit */
  net_units: number;
  /** earliest occurredAt of the customer's own events (merged customers' included); null before any */
  first_seen: string | null;
  /** what its lifecycle stage is decided on (customer-lifecycle.ts, JSON); null before migration 0004's rebuild */
  lifecycle: string | null;
  /** its membership spans in the analyst segments (MembershipSpans as JSON, segments/membership-spans.ts); null: never in one (migration 0005) */
  segment_spans: string | null;
}

/**
 * Which customers had a handled contact in a bucket and slice: one row per (granularity, dimension,
 * bucket, slice, customer id as projected). A query counts distinct customers after following
 * em_customers.merged_into, so a later merge joins two ids retroactively.
 */
export interface EmContactCustomersTable {
  /** JSON array [granularity, dimension, bucket, slice, customer_id]: unambiguous whatever the ids hold */
  row_key: string;
  granularity: string;
  dimension: string;
  bucket: string;
  slice: string;
  customer_id: string;
}

/** Per live customer id, its handled contacts with a reason (ReasonedContact[] as JSON, time order): what repeats are judged on. */
export interface EmContactHistoryTable {
  customer_id: string;
  contacts: string;
}

/**
 * Per live customer whose last lifecycle change is a churn by inactivity after its last touch: the
 * instant (ISO-8601 UTC) and, per granularity, its bucket and what it adds there (counted by the
 * query once `now` has reached `churn_at`, customer-lifecycle.ts).
 */
export interface EmLifecyclePendingTable {
  customer_id: string;
  churn_at: string;
  day: string;
  week: string;
  month: string;
  day_churned: number;
  day_lost: number;
  week_churned: number;
  week_lost: number;
  month_churned: number;
  month_lost: number;
}

/** The last log position folded into the tables (a redelivered event at or below it changes nothing). */
export interface EmProgressTable {
  id: string;
  last_position: number;
}

export interface ExperienceMetricsTables {
  em_totals: EmTotalsTable;
  em_cases: EmCasesTable;
  em_customers: EmCustomersTable;
  em_progress: EmProgressTable;
  em_contact_customers: EmContactCustomersTable;
  em_contact_history: EmContactHistoryTable;
  em_lifecycle_pending: EmLifecyclePendingTable;
}

export const EXPERIENCE_METRICS = 'experience-metrics';
export const EXPERIENCE_METRICS_TABLES = [
  'em_totals',
  'em_cases',
  'em_customers',
  'em_progress',
  'em_contact_customers',
  'em_contact_history',
  'em_lifecycle_pending',
] as const;

export const experienceMetricsMigrations: Record<string, Migration> = {
  'experience-metrics-0001-tables': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('em_buckets')
        .addColumn('granularity', 'text', (c) => c.notNull())
        .addColumn('dimension', 'text', (c) => c.notNull())
        .addColumn('bucket', 'text', (c) => c.notNull())
        .addColumn('slice', 'text', (c) => c.notNull())
        .addColumn('totals', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('em_buckets_pk', ['granularity', 'dimension', 'bucket', 'slice'])
        .execute();
      await db.schema
        .createTable('em_cases')
        .addColumn('case_id', 'text', (c) => c.primaryKey())
        .addColumn('facts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('em_customers')
        .addColumn('customer_id', 'text', (c) => c.primaryKey())
        .addColumn('merged_into', 'text')
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .addColumn('purchases', 'integer', (c) => c.notNull())
        .addColumn('net_units', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('em_progress')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  'experience-metrics-0002-keyed-totals': {
    async up(db: Kysely<any>) {
      // the read model's version changes with this migration: its lane empties the tables and rebuilds them
      await db.schema.dropTable('em_buckets').ifExists().execute();
      await db.schema
        .createTable('em_totals')
        .addColumn('row_key', 'text', (c) => c.primaryKey())
        .addColumn('granularity', 'text', (c) => c.notNull())
        .addColumn('dimension', 'text', (c) => c.notNull())
        .addColumn('bucket', 'text', (c) => c.notNull())
        .addColumn('slice', 'text', (c) => c.notNull())
        .addColumn('totals', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('em_totals_series').on('em_totals').columns(['granularity', 'dimension', 'bucket', 'slice']).execute();
    },
  },
  'experience-metrics-0003-customer-metrics': {
    async up(db: Kysely<any>) {
      // the read model's version changes with this migration: its lane empties the tables and rebuilds them
      await db.schema.alterTable('em_customers').addColumn('first_seen', 'text').execute();
      await db.schema
        .createTable('em_contact_customers')
        .addColumn('row_key', 'text', (c) => c.primaryKey())
        .addColumn('granularity', 'text', (c) => c.notNull())
        .addColumn('dimension', 'text', (c) => c.notNull())
        .addColumn('bucket', 'text', (c) => c.notNull())
        .addColumn('slice', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('em_contact_customers_series')
        .on('em_contact_customers')
        .columns(['granularity', 'dimension', 'bucket', 'slice'])
        .execute();
      await db.schema
        .createTable('em_contact_history')
        .addColumn('customer_id', 'text', (c) => c.primaryKey())
        .addColumn('contacts', 'text', (c) => c.notNull())
        .execute();
    },
  },
  'experience-metrics-0004-lifecycle': {
    async up(db: Kysely<any>) {
      // the read model's version changes with this migration: its lane empties the tables and rebuilds them
      await db.schema.alterTable('em_customers').addColumn('lifecycle', 'text').execute();
      let pending = db.schema
        .createTable('em_lifecycle_pending')
        .addColumn('customer_id', 'text', (c) => c.primaryKey())
        .addColumn('churn_at', 'text', (c) => c.notNull());
      for (const g of ['day', 'week', 'month']) pending = pending.addColumn(g, 'text', (c) => c.notNull());
      for (const g of ['day', 'week', 'month'])
        pending = pending.addColumn(`${g}_churned`, 'integer', (c) => c.notNull()).addColumn(`${g}_lost`, 'integer', (c) => c.notNull());
      await pending.execute();
      for (const g of ['day', 'week', 'month'])
        await db.schema.createIndex(`em_lifecycle_pending_${g}`).on('em_lifecycle_pending').columns([g, 'churn_at']).execute();
    },
  },
  'experience-metrics-0005-segment-spans': {
    async up(db: Kysely<any>) {
      // the read model's version changes with this migration: its lane empties the tables and rebuilds them
      await db.schema.alterTable('em_customers').addColumn('segment_spans', 'text').execute();
    },
  },
};
