import type { Kysely } from 'kysely';

/** A prepared statement of the read store, run synchronously on its connection. */
export interface DirectStatement {
  run(...params: unknown[]): void;
  /** rows as objects keyed by column name */
  all<R = Record<string, unknown>>(...params: unknown[]): R[];
}

/**
 * Plain SQL statements (`?` placeholders, standard `INSERT ... ON CONFLICT`), prepared once and run
 * on the store's own connection. A projection's hot write path uses these instead of the query
 * builder: building and compiling a Kysely query costs more than SQLite takes to run it. They run
 * inside the transaction the projector holds open through Kysely (same connection), so read models
 * and checkpoint still commit together. A PostgreSQL store would implement this with its driver.
 */
export interface DirectSql {
  prepare(sql: string): DirectStatement;
}

const bySqlDb = new WeakMap<object, DirectSql>();

/** Called by the store that created `db`: its direct statements run on the same connection. */
export function registerDirectSql(db: Kysely<any>, direct: DirectSql): void {
  bySqlDb.set(db, direct);
}

/** The direct statements of a read store opened by this library (openSqliteReadStore). */
export function directSqlOf(db: Kysely<any>): DirectSql {
  const direct = bySqlDb.get(db);
  if (!direct) throw new Error('this Kysely instance was not opened by a read store (openSqliteReadStore): no direct statements');
  return direct;
}
