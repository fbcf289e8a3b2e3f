import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { ReadModel } from '../kit/read-model';

type Db = Kysely<any> | Transaction<any>;

/** The checksum of one table of a read model. */
export interface TableChecksum {
  table: string;
  rows: number;
  /** sha256 (hex) over the column names, then each row, in primary-key order */
  checksum: string;
}

/**
 * The checksum of one copy of a read model: exactly the rows its projection derives from the log
 * (`ReadModel.tables`, the tables a rebuild empties), so equal logs projected by the same code give
 * equal checksums on any copy and on either store. Not covered, because they are not a function of
 * the log: the checkpoint row (a position, compared separately), and a read model's bookkeeping
 * outside `tables` (milestones' `ms_definitions`, the history of definition sets an operator
 * configured). Nothing a read model stores depends on the wall clock: answers that do (stages and
 * case ages, churn scores as of now) are computed when queried, and the scheduled system events
 * (milestones missed, churn re-scoring) are events in the log like any other.
 */
export interface ReadModelChecksum {
  readModel: string;
  /** sha256 (hex) over `table:rows:checksum` of every table, in `ReadModel.tables` order */
  checksum: string;
  tables: TableChecksum[];
  /** per customer (rows of the tables with a `customer_id` column): customer id -> sha256 of its rows */
  customers?: Map<string, string>;
}

const PAGE = 5_000;

/**
 * Reads every row of the read model's tables in primary-key order (keyset pages: the same order on
 * SQLite and PostgreSQL, whose text keys compare byte by byte on both, see portable-schema.ts) and
 * hashes them as JSON arrays of their values, columns by name. Run it inside one read transaction
 * (a snapshot) when the copy is being written.
 */
export async function checksumReadModel(
  db: Db,
  kind: 'sqlite' | 'postgres',
  model: ReadModel,
  options: { perCustomer?: boolean } = {},
): Promise<ReadModelChecksum> {
  const customers = options.perCustomer ? new Map<string, string>() : undefined;
  const tables: TableChecksum[] = [];
  for (const table of model.tables) {
    const { columns, key } = await tableShape(db, kind, table);
    const hash = createHash('sha256').update(JSON.stringify(columns));
    const byCustomer = customers && columns.includes('customer_id');
    let rows = 0;
    let after: unknown[] | undefined;
    for (;;) {
      const page = await readPage(db, table, columns, key, after);
      for (const row of page) {
        const line = JSON.stringify(columns.map((c) => canonicalValue(row[c])));
        hash.update(line).update('\n');
        if (byCustomer) {
          const id = String(row.customer_id);
          customers.set(id, sha256(`${customers.get(id) ?? ''}${table}:${line}`));
        }
      }
      rows += page.length;
      if (page.length < PAGE) break;
      const last = page[page.length - 1];
      after = key.map((k) => last[k]);
    }
    tables.push({ table, rows, checksum: hash.digest('hex') });
  }
  const checksum = sha256(tables.map((t) => `${t.table}:${t.rows}:${t.checksum}`).join('\n'));
  return { readModel: model.name, checksum, tables, customers };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** numbers as JSON numbers whatever the driver gave (a bigint, a numeric string never arrives: see postgres-read-store.ts) */
const canonicalValue = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v === undefined ? null : v);

async function readPage(db: Db, table: string, columns: readonly string[], key: readonly string[], after?: unknown[]) {
  const list = (names: readonly string[]) => sql.join(names.map((n) => sql.ref(n)));
  const where = after ? sql`WHERE (${list(key)}) > (${sql.join(after)})` : sql``;
  const { rows } = await sql<
    Record<string, unknown>
  >`SELECT ${list(columns)} FROM ${sql.table(table)} ${where} ORDER BY ${list(key)} LIMIT ${PAGE}`.execute(db);
  return rows;
}

/** The table's columns (sorted by name) and primary-key columns (in key order), as the connection finds it. */
export async function tableShape(db: Db, kind: 'sqlite' | 'postgres', table: string): Promise<{ columns: string[]; key: string[] }> {
  if (kind === 'sqlite') {
    const { rows } = await sql<{ name: string; pk: number }>`SELECT name, pk FROM pragma_table_info(${table})`.execute(db);
    const key = rows.filter((r) => Number(r.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk));
    return shape(
      table,
      rows.map((r) => r.name),
      key.map((r) => r.name),
    );
  }
  // the table the connection's search_path finds (a scratch or shadow copy lives in a schema of its own)
  const { rows } = await sql<{ name: string; key_rank: number | null }>`
    SELECT a.attname AS name, array_position(i.indkey::int2[], a.attnum) AS key_rank
    FROM pg_attribute a
    LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
    WHERE a.attrelid = to_regclass(${table}) AND a.attnum > 0 AND NOT a.attisdropped`.execute(db);
  const key = rows.filter((r) => r.key_rank !== null).sort((a, b) => Number(a.key_rank) - Number(b.key_rank));
  return shape(
    table,
    rows.map((r) => r.name),
    key.map((r) => r.name),
  );
}

function shape(table: string, columns: string[], key: string[]) {
  if (columns.length === 0) throw new Error(`read-model table ${table} does not exist in this copy`);
  // ordering by other columns would not be canonical (SQLite sorts NULLs first, PostgreSQL last)
  if (key.length === 0) throw new Error(`read-model table ${table} has no primary key: its rows have no canonical order to checksum`);
  return { columns: [...columns].sort(), key };
}
