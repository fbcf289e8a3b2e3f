import type { Kysely, Migration } from 'kysely';

/** One row per customer id ever seen: the facts the model scores (a JSON document) and merge pointer. */
export interface ChurnCustomersTable {
  customer_id: string;
  /** the live survivor once merged away; null for a live customer */
  merged_into: string | null;
  last_position: number;
  /** the whole ChurnFacts document as JSON */
  facts: string;
}

/** Every fitted model (`churn-model.fitted`), by version; scoring uses the latest. */
export interface ChurnModelsTable {
  version: number;
  name: string;
  as_of: string;
  position: number;
  /** the event's payload (ChurnModelFittedV1) as JSON */
  payload: string;
}

export interface ChurnRiskTables {
  churn_customers: ChurnCustomersTable;
  churn_models: ChurnModelsTable;
}

export const CHURN_RISK = 'churn-risk';
export const CHURN_RISK_TABLES = ['churn_customers', 'churn_models'] as const;

/* Portable column types only (text, bigint, integer); instants as ISO-8601 UTC text. */
export const churnRiskMigrations: Record<string, Migration> = {
  'churn-risk-0001-tables': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('churn_customers')
        .addColumn('customer_id', 'text', (c) => c.primaryKey())
        .addColumn('merged_into', 'text')
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .addColumn('facts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('churn_models')
        .addColumn('version', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('as_of', 'text', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .execute();
    },
  },
  'churn-risk-0002-last-position-index': {
    async up(db: Kysely<any>) {
      // a cached scoring is brought up to date by re-scoring the customers changed since its position
      await db.schema.createIndex('churn_customers_last_position').on('churn_customers').column('last_position').execute();
    },
  },
};
