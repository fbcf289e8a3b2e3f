import { Migrator, type Kysely, type Migration } from 'kysely';
import { customer360Migrations } from '../customer-360/customer-360.schema';

/**
 * Versioned schema migrations of the read-model store, in the repo. Names sort in the order they
 * run; a released migration is never edited (add a new one). Each read model brings its own.
 */
export const READ_MODEL_MIGRATIONS: Record<string, Migration> = {
  '0001-projection-checkpoints': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('projection_checkpoints')
        .addColumn('projection', 'text', (c) => c.primaryKey())
        .addColumn('position', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  ...customer360Migrations,
};

export async function migrateReadModels(db: Kysely<any>): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => READ_MODEL_MIGRATIONS } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`read-model migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`);
  }
}
