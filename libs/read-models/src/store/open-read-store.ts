import { join, resolve } from 'node:path';
import type { ReadModel } from '../kit/read-model';
import { OutdatedReadStoreError } from './migrations';
import { openPostgresReadStore, ReadStoreOpenError } from './postgres-read-store';
import { openSqliteReadStore, type ReadStore } from './read-store';

/** the embedded read store's file in the data directory */
export const READ_MODELS_FILE = 'read-models.db';

/**
 * Where the read models live: the embedded SQLite file `<dataDir>/read-models.db` (default), or a
 * PostgreSQL database (READ_STORE=postgres, DATABASE_URL).
 */
export type ReadStoreLocation = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; url: string };

/** The location a process's configuration names (READ_STORE, DATA_DIR, DATABASE_URL; validated by loadConfig). */
export function readStoreLocationOf(config: { READ_STORE: string; DATA_DIR: string; DATABASE_URL?: string }): ReadStoreLocation {
  if (config.READ_STORE === 'postgres') {
    if (!config.DATABASE_URL) throw new Error('DATABASE_URL: required when READ_STORE=postgres');
    return { kind: 'postgres', url: config.DATABASE_URL };
  }
  return { kind: 'sqlite', dataDir: config.DATA_DIR };
}

export interface OpenReadStoreOptions {
  /**
   * `writer` (the projector): migrates the store. `reader` (queries): SQLite migrates too when it
   * is the only opener (`migrate`), PostgreSQL refuses a schema this version's projector has not
   * migrated yet, saying what to run.
   */
  role: 'writer' | 'reader';
  /** SQLite reader only: run migrations (a reader of a file another process owns) */
  migrate?: boolean;
  readModels?: readonly ReadModel[];
  poolSize?: number;
  onPoolError?: (e: Error) => void;
}

/** Opens the read store at `location` for a projector (`writer`) or for queries (`reader`). */
export function openReadStore(location: ReadStoreLocation, options: OpenReadStoreOptions): Promise<ReadStore> {
  if (location.kind === 'postgres') {
    return openPostgresReadStore(location.url, {
      migrate: options.role === 'writer',
      readModels: options.readModels,
      poolSize: options.poolSize,
      applicationName: options.role === 'writer' ? 'cem-projector' : 'cem-reader',
      // the projector's commits need not wait for the disk: see PostgresReadStoreOptions.synchronousCommit
      synchronousCommit: options.role === 'writer' ? 'off' : 'on',
      onPoolError: options.onPoolError,
    });
  }
  return openSqliteReadStore(join(resolve(location.dataDir), READ_MODELS_FILE), {
    migrate: options.role === 'writer' || options.migrate === true,
    readModels: options.readModels,
  });
}

/** An error at boot whose message tells the operator what to fix (no stack trace needed). */
export const isBootError = (e: unknown): e is Error => e instanceof ReadStoreOpenError || e instanceof OutdatedReadStoreError;
