import { CompiledQuery, Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import { databaseUrlProblem } from '@cem/config';
import type { ReadModel } from '../kit/read-model';
import { distinctByConflictKey, registerDirectSql, upsertSql, type DirectSql, type SqlValue } from './direct-sql';
import { migrateReadModels, refuseOutdatedSchema } from './migrations';
import { PortableSchemaPlugin } from './portable-schema';
import { commentSqlViews } from './sql-access';
import type { ReadModelsDb } from './read-models-db';
import type { ReadStore, WriterLock } from './read-store';

/** A read store that cannot be opened: the message names the variable and says what to do, never the password. */
export class ReadStoreOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReadStoreOpenError';
  }
}

export interface PostgresReadStoreOptions {
  /** run migrations (the projector does; the api's readers check the schema instead, see refuseOutdatedSchema) */
  migrate?: boolean;
  /** the read models whose migrations run (default: READ_MODELS) */
  readModels?: readonly ReadModel[];
  /** connections of the pool (default 10) */
  poolSize?: number;
  /** shown in pg_stat_activity */
  applicationName?: string;
  /** the variable the URL came from, named in errors (default DATABASE_URL) */
  variable?: string;
  /**
   * `off` for the projector's connections: a commit does not wait for the WAL flush. A server crash
   * may then lose the last commits, read models and checkpoint together (one transaction), and the
   * projector projects those events again from the log: the same trade as SQLite's
   * `synchronous=NORMAL`. Default `on` (the server's setting).
   */
  synchronousCommit?: 'on' | 'off';
  /** how long to wait for a connection before saying the server is unreachable (default 10 s) */
  connectTimeoutMs?: number;
  /**
   * A schema of its own for this copy of the read models (a verify's scratch copy, a rebuild's
   * shadow): created if missing, and first on every connection's search_path, so the same
   * unqualified table names of every projection and query find this copy's tables.
   */
  schema?: string;
  /** idle-connection errors of the pool (the server went away); default: ignored, the next query fails and is retried */
  onPoolError?: (e: Error) => void;
}

export interface DatabaseUrl {
  host: string;
  port: number;
  database: string;
  user: string;
}

/** Checks a `postgres://user:password@host:port/database` URL (as loadConfig does); throws ReadStoreOpenError naming `variable`. */
export function parseDatabaseUrl(url: string, variable = 'DATABASE_URL'): DatabaseUrl {
  const problem = databaseUrlProblem(url);
  if (problem) throw new ReadStoreOpenError(`${variable}: ${problem}`);
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 5432,
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
    user: decodeURIComponent(parsed.username),
  };
}

// int8 (bigint: positions, counts, every `integer` column of a migration, see portable-schema.ts)
// arrives as a JS number, as from SQLite; a value past 2^53 would lose digits, so it is refused
const INT8_OID = 20;
const parseInt8 = (text: string): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint ${text} is past 2^53: not representable as a JS number`);
  return n;
};
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Opens (and migrates) a PostgreSQL read store through a pool of `pg` connections. */
export async function openPostgresReadStore(url: string, options: PostgresReadStoreOptions = {}): Promise<ReadStore> {
  const variable = options.variable ?? 'DATABASE_URL';
  const target = parseDatabaseUrl(url, variable);
  if (options.schema !== undefined) await createSchema(url, options.schema);
  const settings = [
    ...(options.synchronousCommit === 'off' ? ['-c synchronous_commit=off'] : []),
    ...(options.schema !== undefined ? [`-c search_path=${options.schema}`] : []),
  ];
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? 'cem-read-store',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    types: TYPES,
    ...(settings.length > 0 ? { options: settings.join(' ') } : {}),
  });
  // a connection the server closed must not crash the process: an idle one is dropped by the pool
  // (the next query reconnects); one in use between two statements of a transaction (a projector
  // batch) fails its next statement, which rolls the batch back and retries it
  pool.on('error', (e) => options.onPoolError?.(e));
  pool.on('connect', (client) => client.on('error', (e) => options.onPoolError?.(e)));
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw connectError(e, target, variable);
  }
  const db = new Kysely<ReadModelsDb>({ dialect: new PostgresDialect({ pool }) });
  registerDirectSql(db, postgresDirectSql);
  const close = () => db.destroy();
  try {
    if (options.migrate !== false) {
      await migrateReadModels(db.withPlugin(new PortableSchemaPlugin()), options.readModels, options.schema);
      await commentSqlViews(db, options.readModels);
    } else await refuseOutdatedSchema(db, options.readModels, `the read store at ${variable}`);
  } catch (e) {
    await close();
    throw e;
  }
  return { kind: 'postgres', db, close, lockWriter: (onWait) => lockWriter(url, onWait) };
}

/** a copy's schema name: lower-case letters, digits and underscores (it is put in SQL and in connection options) */
export const COPY_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

async function createSchema(url: string, schema: string): Promise<void> {
  if (!COPY_SCHEMA.test(schema)) throw new ReadStoreOpenError(`read-store copy schema "${schema}": expected [a-z_][a-z0-9_]*`);
  const client = new pg.Client({ connectionString: url, application_name: 'cem-read-store' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops a copy's schema with everything in it (nothing when it does not exist). */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  if (!COPY_SCHEMA.test(schema) || schema === 'public') throw new Error(`refusing to drop schema "${schema}"`);
  const client = new pg.Client({ connectionString: url, application_name: 'cem-read-store' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function connectError(e: unknown, t: DatabaseUrl, variable: string): ReadStoreOpenError {
  const err = e as Error & { code?: string };
  const where = `${t.host}:${t.port}`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return new ReadStoreOpenError(`${variable}: cannot connect to ${where} (connection refused): is PostgreSQL running there?`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ReadStoreOpenError(`${variable}: host ${t.host} not found`);
    case '28P01':
    case '28000':
      return new ReadStoreOpenError(`${variable}: the server at ${where} refused the credentials of user ${t.user} (${err.code})`);
    case '3D000':
      return new ReadStoreOpenError(`${variable}: database ${t.database} does not exist on ${where}`);
    default:
      if (/timeout/i.test(err.message)) return new ReadStoreOpenError(`${variable}: no answer from ${where} (connection timed out)`);
      return new ReadStoreOpenError(`${variable}: cannot open the read store on ${where}: ${err.code ? `${err.code} ` : ''}${err.message}`);
  }
}

/** `?` placeholders to `$1, $2...` (a `?` inside a quoted literal is left alone); cached by text. */
const pgTexts = new Map<string, string>();
export function toPostgresPlaceholders(text: string): string {
  let out = pgTexts.get(text);
  if (out !== undefined) return out;
  let n = 0;
  out = text.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, (m) => (m === '?' ? `$${++n}` : m));
  if (pgTexts.size >= 1000) pgTexts.delete(pgTexts.keys().next().value!);
  pgTexts.set(text, out);
  return out;
}

// PostgreSQL takes at most 65,535 parameters per statement; rows beyond this go to the next statement
const MAX_PARAMS = 30_000;
const MAX_ROWS = 1_000;
const KEYS_PER_SELECT = 10_000;

/**
 * DirectSql on PostgreSQL: each statement runs on the connection of `executor` (the projector's
 * transaction), a bulk write is one multi-row INSERT ... ON CONFLICT per thousand rows. (Tried: one
 * `INSERT ... SELECT * FROM unnest($1::text[], ...)` per 5,000 rows; building the array literals cost
 * this process more CPU than the shorter statement saved: 166-190 vs 107-127 us per event.)
 */
function postgresDirectSql(executor: Kysely<any> | Transaction<any>): DirectSql {
  const query = async <R>(text: string, params: readonly unknown[]): Promise<R[]> =>
    (await executor.executeQuery<R>(CompiledQuery.raw(toPostgresPlaceholders(text), [...params]))).rows;
  return {
    all: (text, params = []) => query(text, params),
    async run(text, params = []) {
      await query(text, params);
    },
    async selectByKeys<R>(table: string, columns: readonly string[], key: string, keys: readonly SqlValue[]) {
      const text = `SELECT ${columns.join(', ')} FROM ${table} WHERE ${key} = ANY(?)`;
      const out: R[] = [];
      for (let i = 0; i < keys.length; i += KEYS_PER_SELECT) out.push(...(await query<R>(text, [keys.slice(i, i + KEYS_PER_SELECT)])));
      return out;
    },
    async deleteByKeys(table, key, keys) {
      const text = `DELETE FROM ${table} WHERE ${key} = ANY(?)`;
      for (let i = 0; i < keys.length; i += KEYS_PER_SELECT) await query(text, [keys.slice(i, i + KEYS_PER_SELECT)]);
    },
    async upsert(spec, rows) {
      const distinct = distinctByConflictKey(spec, rows);
      const perStatement = Math.max(1, Math.min(MAX_ROWS, Math.floor(MAX_PARAMS / spec.columns.length)));
      for (let i = 0; i < distinct.length; i += perStatement) {
        const chunk = distinct.slice(i, i + perStatement);
        await query(upsertSql(spec, chunk.length), chunk.flat());
      }
    },
  };
}

// one projector writes a read store at a time (see lockWriter): the key of its session advisory lock
const WRITER_LOCK: [number, number] = [0x63656d, 1];

/**
 * Holds PostgreSQL's session advisory lock of the projector on a connection of its own, so a second
 * projector process started by mistake waits (and says so) instead of writing next to the first.
 * If that connection is lost (the server restarted), the lock is taken again; the lanes' checkpoint
 * claim (ProjectionLane) keeps two writers from applying a batch twice in between.
 */
async function lockWriter(url: string, onWait: (message: string) => void): Promise<WriterLock> {
  let closed = false;
  let client: pg.Client | undefined;
  const acquire = async (): Promise<void> => {
    for (let delay = 500; !closed; delay = Math.min(delay * 2, 30_000)) {
      const c = new pg.Client({ connectionString: url, application_name: 'cem-projector-lock' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', WRITER_LOCK);
        if (!rows[0].ok) {
          onWait('another projector process holds the read store (PostgreSQL advisory lock): waiting until it stops');
          await c.query('SELECT pg_advisory_lock($1, $2)', WRITER_LOCK);
        }
        client = c;
        // a lost connection releases the lock on the server: take it again
        c.once('end', () => {
          client = undefined;
          if (!closed) {
            onWait('lost the connection holding the projector lock: taking it again');
            void acquire();
          }
        });
        return;
      } catch {
        await c.end().catch(() => undefined);
        if (closed) return;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  await acquire();
  return {
    async release() {
      closed = true;
      await client?.end().catch(() => undefined);
    },
  };
}
