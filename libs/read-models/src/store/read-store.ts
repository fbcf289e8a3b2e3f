import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { startBackgroundCheckpointer } from '@cem/event-store/sqlite/background-checkpointer';
import { prepareOwnerOnlySqliteFile } from '@cem/event-store/sqlite/owner-only';
import { registerDirectSql } from './direct-sql';
import type { ReadModel } from '../kit/read-model';
import { migrateReadModels } from './migrations';
import type { ReadModelsDb } from './read-models-db';

export interface ReadStore {
  db: Kysely<ReadModelsDb>;
  close(): Promise<void>;
}

export interface SqliteReadStoreOptions {
  /** `NORMAL` (default) survives a process kill; a power cut may lose the last batches, which the
   * projector then simply projects again from its (equally rolled back) checkpoint */
  synchronous?: 'FULL' | 'NORMAL';
  /** run migrations (the projector does; readers of a store a projector owns may skip) */
  migrate?: boolean;
  /** the read models whose migrations run (default: READ_MODELS) */
  readModels?: readonly ReadModel[];
}

/** Opens (and migrates) the embedded read-model store: one SQLite file in WAL mode. */
export async function openSqliteReadStore(filename: string, options: SqliteReadStoreOptions = {}): Promise<ReadStore> {
  prepareOwnerOnlySqliteFile(filename);
  const sqlite = new Database(filename);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('cache_size = -65536');
  // the WAL is checkpointed by a background thread; the commit that crosses ~40 MB does it as a fallback
  sqlite.pragma('wal_autocheckpoint = 10000');
  const checkpointer = filename === ':memory:' ? undefined : startBackgroundCheckpointer(filename);
  // a catching-up projector's transaction spans up to 100,000 events, and the WAL grows to what it
  // changed (it cannot be checkpointed while open): give the disk back after each checkpoint
  sqlite.pragma('journal_size_limit = 67108864');
  const cached = withStatementCache(sqlite);
  const db = new Kysely<ReadModelsDb>({ dialect: new SqliteDialect({ database: cached }) });
  registerDirectSql(db, {
    prepare(sql) {
      const stmt = cached.prepare(sql);
      return { run: (...params) => void stmt.run(...params), all: <R>(...params: unknown[]) => stmt.all(...params) as R[] };
    },
  });
  const close = async () => {
    await checkpointer?.stop();
    await db.destroy();
  };
  try {
    if (options.migrate !== false) await migrateReadModels(db, options.readModels);
  } catch (e) {
    // a store that cannot open leaves no connection or checkpointer thread behind
    await close();
    throw e;
  }
  return { db, close };
}

/**
 * Kysely's SQLite driver prepares every statement anew; a projection runs the same few shapes of
 * statement thousands of times, so keep the prepared ones (by SQL text, bounded).
 */
function withStatementCache(sqlite: Database.Database, max = 500) {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) return stmt;
      stmt = sqlite.prepare(sql);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(sql, stmt);
      return stmt;
    },
  };
}
