import type { Kysely, Transaction } from 'kysely';

/** A value a direct statement takes or returns: text, a number (integer or double precision) or null. */
export type SqlValue = string | number | null;

/**
 * A bulk write: `INSERT INTO table (columns) VALUES ... ON CONFLICT (conflict) DO UPDATE SET ...` or
 * `DO NOTHING` when `update` is `'nothing'`. Each entry of `update` is a column set to the new row's
 * value (`c = excluded.c`), or `[column, expression]` for a portable expression over the stored row
 * and `excluded` (a counter: `['n', 'n + excluded.n']`).
 */
export interface BulkUpsert {
  table: string;
  columns: readonly string[];
  /** the primary key or a unique index: rows with the same values here are one row */
  conflict: readonly string[];
  update: readonly (string | readonly [column: string, expression: string])[] | 'nothing';
}

/**
 * The hot path of the projections, the same on every read store: portable SQL (`?` placeholders,
 * standard `INSERT ... ON CONFLICT`) run on the connection of the projector's transaction, so read
 * models and checkpoint still commit together. Building and compiling a Kysely query costs more than
 * SQLite takes to run it; here SQLite runs statements it prepared once (synchronously, whatever the
 * promise), and PostgreSQL gets one multi-row statement per bulk write instead of one round trip a row.
 *
 * Portability: no SQLite- or PostgreSQL-only SQL in `text` (no `json_each`, `INSERT OR REPLACE`,
 * `RETURNING`, casts), `?` only as a placeholder, values as SqlValue. See docs/read-models.md.
 */
export interface DirectSql {
  /** rows of a portable SELECT, as objects keyed by column name */
  all<R = Record<string, SqlValue>>(text: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** runs a portable statement (UPDATE, DELETE, single-row INSERT) */
  run(text: string, params?: readonly SqlValue[]): Promise<void>;
  /**
   * `SELECT columns FROM table WHERE key IN (keys)`, whatever the number of keys (one statement per
   * few thousand keys): what a batch loads before it folds its events
   */
  selectByKeys<R = Record<string, SqlValue>>(
    table: string,
    columns: readonly string[],
    key: string,
    keys: readonly SqlValue[],
  ): Promise<R[]>;
  /** `DELETE FROM table WHERE key IN (keys)`, whatever the number of keys (one statement per few thousand keys) */
  deleteByKeys(table: string, key: string, keys: readonly SqlValue[]): Promise<void>;
  /**
   * Writes `rows` (values in `spec.columns` order). Rows with the same conflict key in one call are
   * one write, as if run one after the other: the last wins with `update`, the first with `'nothing'`.
   */
  upsert(spec: BulkUpsert, rows: readonly (readonly SqlValue[])[]): Promise<void>;
}

/** How a read store runs direct statements on one of its connections (its Kysely or a transaction of it). */
export type DirectSqlOn = (executor: Kysely<any> | Transaction<any>) => DirectSql;

const byDb = new WeakMap<object, DirectSqlOn>();

/** Called by the store that created `db`. */
export function registerDirectSql(db: Kysely<any>, on: DirectSqlOn): void {
  byDb.set(db, on);
}

/** The direct statements of a read store opened by this library, run on `trx` (a transaction of `db`) or on `db`. */
export function directSqlOf(db: Kysely<any>, trx?: Transaction<any>): DirectSql {
  const on = byDb.get(db);
  if (!on) throw new Error('this Kysely instance was not opened by a read store (openReadStore): no direct statements');
  return on(trx ?? db);
}

/** The INSERT ... ON CONFLICT of a bulk write, for `rows` rows of `?` placeholders. */
export function upsertSql(spec: BulkUpsert, rows: number): string {
  const tuple = `(${spec.columns.map(() => '?').join(', ')})`;
  const values = Array.from({ length: rows }, () => tuple).join(', ');
  const set = (u: string | readonly [string, string]) => (typeof u === 'string' ? `${u} = excluded.${u}` : `${u[0]} = ${u[1]}`);
  const action = spec.update === 'nothing' ? 'DO NOTHING' : `DO UPDATE SET ${spec.update.map(set).join(', ')}`;
  return `INSERT INTO ${spec.table} (${spec.columns.join(', ')}) VALUES ${values} ON CONFLICT (${spec.conflict.join(', ')}) ${action}`;
}

/**
 * One row per conflict key: the last row of a key with `update`, the first with `'nothing'` (what
 * running the rows one by one leaves). PostgreSQL refuses a multi-row `ON CONFLICT DO UPDATE` that
 * touches a row twice. An update by expression (a counter) cannot be folded that way: the rows of
 * one call must then have distinct keys (combine them in the batch first), else this throws.
 */
export function distinctByConflictKey(spec: BulkUpsert, rows: readonly (readonly SqlValue[])[]): (readonly SqlValue[])[] {
  const at = spec.conflict.map((c) => {
    const i = spec.columns.indexOf(c);
    if (i < 0) throw new Error(`bulk upsert into ${spec.table}: conflict column ${c} is not among its columns`);
    return i;
  });
  const byKey = new Map<SqlValue, readonly SqlValue[]>();
  // a one-column key is its own Map key (1, '1' and null stay apart, as in JSON); several are joined as JSON
  const single = at.length === 1 ? at[0] : -1;
  for (const row of rows) {
    if (row.length !== spec.columns.length) {
      throw new Error(`bulk upsert into ${spec.table}: a row has ${row.length} values for ${spec.columns.length} columns`);
    }
    const key = single >= 0 ? row[single] : JSON.stringify(at.map((i) => row[i]));
    if (byKey.has(key) && spec.update !== 'nothing' && spec.update.some((u) => typeof u !== 'string')) {
      throw new Error(
        `bulk upsert into ${spec.table}: two rows with the key ${single >= 0 ? JSON.stringify([key]) : String(key)} and an update by expression: combine them first`,
      );
    }
    if (spec.update === 'nothing' && byKey.has(key)) continue;
    if (byKey.has(key)) byKey.delete(key);
    byKey.set(key, row);
  }
  return [...byKey.values()];
}
