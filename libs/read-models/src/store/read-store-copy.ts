import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import type { ReadModel } from '../kit/read-model';
import type { ReadStoreLocation } from './open-read-store';
import { COPY_SCHEMA, dropPostgresSchema, openPostgresReadStore } from './postgres-read-store';
import { openSqliteReadStore, type ReadStore } from './read-store';

/**
 * A copy of read models next to the live one: a verify's scratch copy or a rebuild's shadow. On
 * the embedded store a SQLite file of its own in `<dataDir>/read-model-copies/`, on PostgreSQL a
 * schema of its own in the same database; either way the same tables under the same names,
 * migrated by the same migrations, so the projections and the checksum run on it unchanged.
 */
export const COPIES_DIR = 'read-model-copies';

/** The copy's file (embedded store); `name` is a schema-safe identifier. */
export const copyFileOf = (dataDir: string, name: string) => join(resolve(dataDir), COPIES_DIR, `${name}.db`);

function checkName(name: string): void {
  if (!COPY_SCHEMA.test(name) || name === 'public') throw new Error(`read-model copy name "${name}": expected [a-z_][a-z0-9_]*`);
}

/** Opens (creating and migrating it if new) the copy `name` with the tables of `models`. */
export async function openReadStoreCopy(location: ReadStoreLocation, name: string, models: readonly ReadModel[]): Promise<ReadStore> {
  checkName(name);
  if (location.kind === 'postgres') {
    return openPostgresReadStore(location.url, {
      schema: name,
      readModels: models,
      poolSize: 4,
      applicationName: 'cem-read-store-copy',
      synchronousCommit: 'off',
    });
  }
  mkdirSync(join(resolve(location.dataDir), COPIES_DIR), { recursive: true, mode: 0o700 });
  return openSqliteReadStore(copyFileOf(location.dataDir, name), { readModels: models });
}

/** Whether the copy `name` exists (its file, its schema). */
export async function readStoreCopyExists(location: ReadStoreLocation, live: ReadStore, name: string): Promise<boolean> {
  checkName(name);
  if (location.kind === 'sqlite') return existsSync(copyFileOf(location.dataDir, name));
  const { rows } = await sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${name}`.execute(live.db);
  return rows.length > 0;
}

/** Deletes the copy `name` (closed first by its opener); nothing when it does not exist. */
export async function dropReadStoreCopy(location: ReadStoreLocation, name: string): Promise<void> {
  checkName(name);
  if (location.kind === 'postgres') return dropPostgresSchema(location.url, name);
  const file = copyFileOf(location.dataDir, name);
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
}
