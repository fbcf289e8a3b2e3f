import type { Kysely, Migration } from 'kysely';

/** One row per target: its latest definition. */
export interface TgTargetsTable {
  target_id: string;
  version: number;
  /** the TargetDefinition as JSON */
  definition: string;
  created_at: string;
  updated_at: string;
  changed_by: string;
  last_position: number;
}

/** Every version of every target: the change history (one row per target.created / target.changed). */
export interface TgChangesTable {
  target_id: string;
  version: number;
  kind: string;
  position: number;
  occurred_at: string;
  changed_by: string;
  definition: string;
}

export interface TargetsTables {
  tg_targets: TgTargetsTable;
  tg_changes: TgChangesTable;
}

export const TARGETS = 'targets';
export const TARGETS_TABLES = ['tg_changes', 'tg_targets'] as const;

export const targetsMigrations: Record<string, Migration> = {
  'targets-0001-tables': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tg_targets')
        .addColumn('target_id', 'text', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('changed_by', 'text', (c) => c.notNull())
        .addColumn('last_position', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('tg_changes')
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('occurred_at', 'text', (c) => c.notNull())
        .addColumn('changed_by', 'text', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('tg_changes_pk', ['target_id', 'version'])
        .execute();
    },
  },
};
