import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Kysely, sql, SqliteDialect } from 'kysely';
import { startBackgroundCheckpointer } from '@cem/event-store/sqlite/background-checkpointer';
import { prepareOwnerOnlySqliteFile } from '@cem/event-store/sqlite/owner-only';
import { distinctByConflictKey, registerDirectSql, upsertSql, type DirectSql } from './direct-sql';
import type { ReadModel } from '../kit/read-model';
import { migrateReadModels } from './migrations';
import type { ReadModelsDb } from './read-models-db';

/** Held by the one projector writing a read store; see ReadStore.lockWriter. */
export interface WriterLock {
  release(): Promise<void>;
}

export interface ReadStore {
  kind: 'sqlite' | 'postgres';
  db: Kysely<ReadModelsDb>;
  /**
   * Taken by a projector before it writes: a second projector process waits (`onWait` says so)
   * until the first stops. PostgreSQL: an advisory lock. SQLite: nothing to take (one file, one
   * writer at a time by SQLite's own lock; the lanes' checkpoint claim keeps batches from being
   * applied twice).
   */
  lockWriter(onWait: (message: string) => void): Promise<WriterLock>;
  /**
   * After the projector committed an erasure: SQLite checkpoints its write-ahead log into the file
   * (whose freed space secure_delete overwrote) and truncates it, so no old page with the erased
   * values stays in the WAL (docs/privacy.md). It tries again while the WAL is busy (the background
   * checkpointer, a reader's snapshot) for about 10 s; a reader holding an old snapshot longer keeps
   * the WAL, and the next erasure or checkpoint gets it. PostgreSQL: none (old row versions stay
   * until vacuumed).
   */
  afterErasure?(): Promise<void>;
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
  // an erasure deletes and rewrites rows holding personal data: overwrite the freed space (docs/privacy.md)
  sqlite.pragma('secure_delete = ON');
  // the WAL is checkpointed by a background thread; the commit that crosses ~40 MB does it as a fallback
  sqlite.pragma('wal_autocheckpoint = 10000');
  const checkpointer = filename === ':memory:' ? undefined : startBackgroundCheckpointer(filename);
  // a catching-up projector's transaction spans up to 100,000 events, and the WAL grows to what it
  // changed (it cannot be checkpointed while open): give the disk back after each checkpoint
  sqlite.pragma('journal_size_limit = 67108864');
  const cached = withStatementCache(sqlite);
  const db = new Kysely<ReadModelsDb>({ dialect: new SqliteDialect({ database: cached }) });
  // one connection: a transaction of `db` runs on it too
  const direct = sqliteDirectSql(cached);
  registerDirectSql(db, () => direct);
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
  return {
    kind: 'sqlite',
    db,
    close,
    lockWriter: async () => ({ release: async () => undefined }),
    // through Kysely: it waits for the one connection, so it never runs inside a lane's open transaction
    afterErasure: () => truncateWriteAheadLog(db),
  };
}

/**
 * Checkpoints the WAL into the file and truncates it, trying again while it is busy: the background
 * checkpointer's own checkpoint (SQLITE_BUSY) or a reader's snapshot (busy = 1) leaves old pages,
 * with the erased values, in the WAL. Bounded (about 10 s), so a reader that never lets go cannot
 * stall the projector: the next erasure or checkpoint then gets those pages.
 */
async function truncateWriteAheadLog(db: Kysely<ReadModelsDb>): Promise<void> {
  for (let attempt = 1; attempt <= 50; attempt++) {
    const result = await sql<{ busy: number }>`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db).catch(() => undefined);
    if (result?.rows[0]?.busy === 0) return;
    await delay(Math.min(10 * attempt, 300));
  }
}

// better-sqlite3 runs statements synchronously: the promises below are already settled
function sqliteDirectSql(cached: ReturnType<typeof withStatementCache>): DirectSql {
  return {
    async all<R>(text: string, params: readonly unknown[] = []) {
      return cached.prepare(text).all(...params) as R[];
    },
    async run(text, params = []) {
      cached.prepare(text).run(...params);
    },
    async selectByKeys<R>(table: string, columns: readonly string[], key: string, keys: readonly unknown[]) {
      if (keys.length === 0) return [];
      // any number of keys in one statement: they travel as one JSON array
      const text = `SELECT ${columns.join(', ')} FROM ${table} WHERE ${key} IN (SELECT value FROM json_each(?))`;
      return cached.prepare(text).all(JSON.stringify(keys)) as R[];
    },
    async deleteByKeys(table, key, keys) {
      if (keys.length === 0) return;
      cached.prepare(`DELETE FROM ${table} WHERE ${key} IN (SELECT value FROM json_each(?))`).run(JSON.stringify(keys));
    },
    async upsert(spec, rows) {
      if (rows.length === 0) return;
      // one prepared single-row statement run per row (SQLite has no round trips to save), over the
      // same distinct rows PostgreSQL gets, so both refuse and keep the same rows
      const stmt = cached.prepare(upsertSql(spec, 1));
      for (const row of distinctByConflictKey(spec, rows)) stmt.run(...row);
    },
  };
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
