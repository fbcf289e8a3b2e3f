import type { Kysely, Migration } from 'kysely';
import type { SqlView } from '../kit/read-model';

/** One row per customer id ever seen; merged-away customers keep a row pointing at their survivor. */
export interface C360CustomersTable {
  customer_id: string;
  /** the live survivor (kept current across chains of merges); null for a live customer */
  merged_into: string | null;
  first_seen_at: string | null;
  last_seen_at: string | null;
  event_count: number;
  /** purchases - refunds over all currencies, in major units (see lifecycle.ts for the caveat) */
  net_value: number;
  value_segment: string;
  nps: number | null;
  nps_category: string | null;
  first_commercial_at: string | null;
  last_win_at: string | null;
  last_cancel_at: string | null;
  last_complaint_at: string | null;
  active_subscriptions: number;
  open_cases: number;
  last_position: number;
  /** the whole Customer360State as canonical JSON */
  doc: string;
}

/** Lookup index: which live customer holds an identifier. */
export interface C360IdentifiersTable {
  kind: string;
  value: string;
  customer_id: string;
}

/** Every event of a customer (merged-away customers' events included), for the timeline. */
export interface C360TimelineTable {
  position: number;
  customer_id: string;
  /** the customer whose stream holds the event (differs from customer_id after a merge) */
  stream_customer_id: string;
  occurred_at: string;
  event_id: string;
  type: string;
  channel: string | null;
  source: string;
  agent_id: string | null;
  correlation_id: string | null;
  data: string;
}

export interface Customer360Tables {
  c360_customers: C360CustomersTable;
  c360_identifiers: C360IdentifiersTable;
  c360_timeline: C360TimelineTable;
}

/** the read model's name (its checkpoint, lane and queries key) */
export const CUSTOMER_360 = 'customer-360';
/** the read model's code version: a change rebuilds it (with the blind index, see Customer360Projection.configuredVersion) */
export const CUSTOMER_360_VERSION = 2;
export const CUSTOMER_360_TABLES = ['c360_timeline', 'c360_identifiers', 'c360_customers'] as const;

/*
 * Column types are the portable subset: `integer` positions are SQLite rowids (a PostgreSQL
 * migration set will use bigint), ISO-8601 UTC instants as text compare in time order.
 */
// '0002-customer-360' predates the per-read-model naming (released: never renamed); later migrations
// of this read model are named 'customer-360-NNNN-...'
export const customer360Migrations: Record<string, Migration> = {
  '0002-customer-360': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('c360_customers')
        .addColumn('customer_id', 'text', (c) => c.primaryKey())
        .addColumn('merged_into', 'text')
        .addColumn('first_seen_at', 'text')
        .addColumn('last_seen_at', 'text')
        .addColumn('event_count', 'integer', (c) => c.notNull())
        .addColumn('net_value', 'double precision', (c) => c.notNull())
        .addColumn('value_segment', 'text', (c) => c.notNull())
        .addColumn('nps', 'integer')
        .addColumn('nps_category', 'text')
        .addColumn('first_commercial_at', 'text')
        .addColumn('last_win_at', 'text')
        .addColumn('last_cancel_at', 'text')
        .addColumn('last_complaint_at', 'text')
        .addColumn('active_subscriptions', 'integer', (c) => c.notNull())
        .addColumn('open_cases', 'integer', (c) => c.notNull())
        .addColumn('last_position', 'integer', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
      // partial: only merged-away customers are indexed, so live customers' updates never touch it
      await db.schema
        .createIndex('c360_customers_merged_into')
        .on('c360_customers')
        .column('merged_into')
        .where('merged_into', 'is not', null)
        .execute();
      await db.schema.createIndex('c360_customers_last_seen').on('c360_customers').columns(['last_seen_at', 'customer_id']).execute();
      await db.schema.createIndex('c360_customers_first_seen').on('c360_customers').columns(['first_seen_at', 'customer_id']).execute();
      await db.schema.createIndex('c360_customers_segment').on('c360_customers').columns(['value_segment', 'last_seen_at']).execute();
      await db.schema.createIndex('c360_customers_net_value').on('c360_customers').columns(['net_value', 'customer_id']).execute();

      await db.schema
        .createTable('c360_identifiers')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('c360_identifiers_pk', ['kind', 'value'])
        .execute();
      await db.schema.createIndex('c360_identifiers_customer').on('c360_identifiers').column('customer_id').execute();

      await db.schema
        .createTable('c360_timeline')
        .addColumn('position', 'integer', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('stream_customer_id', 'text', (c) => c.notNull())
        .addColumn('occurred_at', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('channel', 'text')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text')
        .addColumn('correlation_id', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('c360_timeline_customer')
        .on('c360_timeline')
        .columns(['customer_id', 'occurred_at', 'position'])
        .execute();
    },
  },
  'customer-360-0003-analyst-views': {
    async up(db: Kysely<any>) {
      // portable views (plain SELECTs): BI tools read these, never the projector's tables
      await db.schema
        .createView('cem_customers')
        .as(db.selectFrom('c360_customers').select(CEM_CUSTOMERS_COLUMNS).where('merged_into', 'is', null))
        .execute();
      await db.schema.createView('cem_timeline').as(db.selectFrom('c360_timeline').select(CEM_TIMELINE_COLUMNS)).execute();
    },
  },
};

const CEM_CUSTOMERS_COLUMNS = [
  'customer_id',
  'first_seen_at',
  'last_seen_at',
  'event_count',
  'net_value',
  'value_segment',
  'nps',
  'nps_category',
  'open_cases',
  'active_subscriptions',
  'first_commercial_at',
  'last_win_at',
  'last_cancel_at',
  'last_complaint_at',
  'last_position',
] as const;
const CEM_TIMELINE_COLUMNS = [
  'position',
  'customer_id',
  'stream_customer_id',
  'occurred_at',
  'event_id',
  'type',
  'channel',
  'source',
  'agent_id',
  'correlation_id',
  'data',
] as const;

const INSTANT = 'ISO-8601 UTC text (2025-03-01T09:30:00.000Z): text order is time order';

/** The customer 360's views for analysts (docs/sql.md). */
export const CUSTOMER_360_SQL_VIEWS: readonly SqlView[] = [
  {
    name: 'cem_customers',
    comment: 'One row per live customer (merged-away ids excluded): the facts of the customer 360, as projected from the event log.',
    columns: {
      customer_id: 'the customer (live: merged-away customers are folded into it)',
      first_seen_at: `first touch point (min occurredAt); ${INSTANT}`,
      last_seen_at: `last touch point (max occurredAt); ${INSTANT}`,
      event_count: 'touch points recorded (system events not counted)',
      net_value: 'purchases minus refunds over all currencies, in major units (currencies added without conversion)',
      value_segment: 'none (never bought), low, medium (>= 250), high (>= 1000), strategic (>= 5000) on net_value',
      nps: 'latest NPS answer 0-10 (by occurredAt), null if none',
      nps_category: 'promoter (9-10), passive (7-8), detractor (0-6), null if no NPS answer',
      open_cases: 'cases neither resolved nor closed',
      active_subscriptions: 'subscriptions whose latest status is active',
      first_commercial_at: `first purchase or subscription; ${INSTANT}`,
      last_win_at: `latest purchase or subscription start; ${INSTANT}`,
      last_cancel_at: `latest subscription cancellation; ${INSTANT}`,
      last_complaint_at: `latest complaint; ${INSTANT}`,
      last_position: 'log position of the last event reflected in this row',
    },
  },
  {
    name: 'cem_timeline',
    comment: 'Every event of every customer (merged-away customers included under their survivor), one row per event of the log.',
    columns: {
      position: 'position in the global event log (unique, increasing in recording order)',
      customer_id: 'the live customer the event belongs to',
      stream_customer_id: 'the customer whose stream recorded it (differs from customer_id after a merge)',
      occurred_at: `when it happened; ${INSTANT}`,
      event_id: 'the sender-chosen event id (idempotency key)',
      type: 'catalogue type, e.g. survey.answered, case.opened, purchase.completed',
      channel: 'phone, chat, email, web, app, store, social, sms, other; null for system events',
      source: 'the integration that sent it',
      agent_id: 'who handled it, when known',
      correlation_id: 'the conversation or case it belongs to, when known',
      data: 'the payload as JSON text at its latest schema version (cast with ::jsonb on PostgreSQL)',
    },
  },
];
