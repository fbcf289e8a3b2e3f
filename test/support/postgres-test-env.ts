import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL the tests use: DATABASE_URL (infra/postgres/start.sh prints one). Its role must be
 * allowed to create databases: each test file works in a database of its own, dropped at the end.
 */
export const TEST_DATABASE_URL = process.env.DATABASE_URL?.trim() || undefined;

/**
 * `describe` for tests that need a real PostgreSQL. Without DATABASE_URL: with CI=true the suite
 * fails loudly; otherwise it is skipped with the reason printed. With DATABASE_URL set, an
 * unreachable server fails the tests (it was asked for).
 */
export function describeWithPostgres(name: string, body: () => void): void {
  if (TEST_DATABASE_URL) return describe(name, body);
  const reason = 'DATABASE_URL is not set; start a server with infra/postgres/start.sh and export the DATABASE_URL it prints';
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs a PostgreSQL server (CI=true)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  process.stderr.write(`\n[postgres] SKIPPED "${name}": ${reason}\n`);
  describe.skip(name, body);
}

export interface TestDatabase {
  /** DATABASE_URL with this database's name */
  url: string;
  name: string;
  /** drops the database (closing what still connects to it) */
  drop(): Promise<void>;
}

/** A fresh, empty database on the test server. */
export async function freshDatabase(prefix = 'cem_test'): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) throw new Error('DATABASE_URL is not set');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
