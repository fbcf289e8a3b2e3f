import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL the tests and the bench use: DATABASE_URL (infra/postgres/start.sh prints one). Its
 * role must be allowed to create databases: each test file works in a database of its own, dropped
 * at the end. (No Jest here: the bench imports it.)
 */
export const TEST_DATABASE_URL = process.env.DATABASE_URL?.trim() || undefined;

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
    drop: () => dropDatabase(name),
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

/**
 * Drops a test database, closing what still connects to it (a killed process's backends may linger
 * a moment); retried for a few seconds before giving up.
 */
async function dropDatabase(name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } catch (e) {
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
