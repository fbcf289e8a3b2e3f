import { DEFAULT_MIGRATION_TABLE, Migrator, sql, type Kysely, type Migration } from 'kysely';
import type { ReadModel } from '../kit/read-model';
import { READ_MODELS } from '../read-models';

/**
 * The store's own migrations (checkpoints). A released migration is never edited: add a new one.
 * Each read model brings its own (ReadModel.migrations); their names are unique across the store.
 */
export const CHECKPOINT_MIGRATIONS: Record<string, Migration> = {
  '0001-projection-checkpoints': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('projection_checkpoints')
        .addColumn('projection', 'text', (c) => c.primaryKey())
        .addColumn('position', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  'checkpoints-0002-read-model-version': {
    async up(db: Kysely<any>) {
      // rows projected before versions existed were projected by version 1
      await db.schema
        .alterTable('projection_checkpoints')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(sql`1`))
        .execute();
    },
  },
  // blue/green rebuilds (libs/read-models/src/rebuild): one row per rebuild, its state and progress
  'checkpoints-0003-read-model-rebuilds': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('read_model_rebuilds')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('read_models', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('shadow_copy', 'text', (c) => c.notNull())
        .addColumn('old_copy', 'text')
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('heartbeat_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('target_position', 'integer', (c) => c.notNull())
        .addColumn('events', 'integer', (c) => c.notNull())
        .addColumn('events_per_second', 'double precision', (c) => c.notNull())
        .addColumn('eta_seconds', 'double precision')
        .addColumn('checksums', 'text')
        .addColumn('message', 'text')
        .execute();
    },
  },
};

/** The store's migrations and those of every read model in `models`; a name used twice is a programming error. */
export function readStoreMigrations(models: readonly ReadModel[] = READ_MODELS): Record<string, Migration> {
  const all: Record<string, Migration> = { ...CHECKPOINT_MIGRATIONS };
  for (const model of models) {
    for (const [name, migration] of Object.entries(model.migrations)) {
      if (all[name]) throw new Error(`read model ${model.name}: migration name ${name} is already used by another read model`);
      all[name] = migration;
    }
  }
  return all;
}

export async function migrateReadModels(
  db: Kysely<any>,
  models: readonly ReadModel[] = READ_MODELS,
  /** PostgreSQL: the schema of a copy (see PostgresReadStoreOptions.schema), where its migration table lives too */
  schema?: string,
): Promise<void> {
  // read models are added over time and each names its own migrations: run any not yet run,
  // whatever the order of their names relative to those that ran before
  const migrations = readStoreMigrations(models);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    allowUnorderedMigrations: true,
    // Kysely otherwise finds the live copy's migration table in another schema and takes it for this one's
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`read-model migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`);
  }
}

/**
 * For a process that reads a store another one migrates (the api with an external projector): the
 * schema must hold every migration this version knows, else its queries would fail on missing
 * tables or columns. Refuses with what to run.
 */
export async function refuseOutdatedSchema(
  db: Kysely<any>,
  models: readonly ReadModel[] = READ_MODELS,
  where = 'the read store',
): Promise<void> {
  const known = Object.keys(readStoreMigrations(models));
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  const ran = new Set<string>();
  if (tables.some((t) => t.name === DEFAULT_MIGRATION_TABLE)) {
    const rows = await db.selectFrom(DEFAULT_MIGRATION_TABLE).select('name').execute();
    for (const r of rows) ran.add(r.name as string);
  }
  const missing = known.filter((name) => !ran.has(name));
  if (missing.length > 0) {
    throw new OutdatedReadStoreError(
      `${where} lacks ${missing.length} migration(s) of this version (${missing.join(', ')}): ` +
        'start this version of the projector (npm run projector), which migrates the store at start, then start this process again',
    );
  }
}

export class OutdatedReadStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutdatedReadStoreError';
  }
}
