import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { RecordedEvent } from '@cem/event-store';
import { openPostgresReadStore, startProjector, type ReadStore } from '@cem/read-models';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { describeWithPostgres, freshDatabase, TEST_DATABASE_URL, type TestDatabase } from '../../../../test/support/postgres-test-env';
import { finished, REPO_ROOT, runTs } from '../../../../test/support/run-ts';

/** The ```sql blocks of docs/sql.md, in order. */
const docQueries = () => [...readFileSync(join(REPO_ROOT, 'docs/sql.md'), 'utf8').matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]);

/** Monthly NPS by channel recomputed from the raw log (v1 surveys: `{ survey: 'nps', score }`). */
function npsByMonthAndChannel(log: readonly RecordedEvent[]): { month: string; channel: string; answers: number; nps: number }[] {
  const groups = new Map<string, { promoters: number; detractors: number; answers: number }>();
  for (const e of log) {
    if (e.type !== 'survey.answered') continue;
    const data = e.data as { nps?: number; survey?: string; score?: number };
    const nps = data.nps ?? (data.survey === 'nps' ? data.score : undefined);
    if (nps === undefined) continue;
    const meta = e.metadata as { occurredAt: string; channel: string };
    const key = `${meta.occurredAt.slice(0, 7)}|${meta.channel}`;
    const g = groups.get(key) ?? { promoters: 0, detractors: 0, answers: 0 };
    g.answers++;
    if (nps >= 9) g.promoters++;
    if (nps <= 6) g.detractors++;
    groups.set(key, g);
  }
  return [...groups]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, g]) => {
      const [month, channel] = key.split('|');
      return { month, channel, answers: g.answers, nps: Math.round((1000 * (g.promoters - g.detractors)) / g.answers) / 10 };
    });
}

describeWithPostgres('cem sql-role (a read-only role for BI tools) and the analysts views', () => {
  let loaded: LoadedPlatform;
  let log: RecordedEvent[];
  let db: TestDatabase;
  let store: ReadStore;
  const roles: string[] = [];
  const runCli = (args: string[], env: Record<string, string> = {}) => {
    const child = runTs('apps/cli/src/main.ts', { DATA_DIR: loaded.dir, READ_STORE: 'postgres', DATABASE_URL: db.url, ...env }, args);
    return finished(child);
  };

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 21, persons: 150, eventsPerPerson: [3, 25], lateShare: 0.1 });
    log = await loaded.platform.store.readAll();
    db = await freshDatabase();
    store = await openPostgresReadStore(db.url);
    const running = await startProjector({ store: loaded.platform.store, db: store.db, readStore: store, dataDir: loaded.dir });
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await running.close();
  }, 180_000);

  afterAll(async () => {
    await store?.close();
    await db?.drop();
    if (TEST_DATABASE_URL && roles.length > 0) {
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
    await loaded?.cleanup();
  }, 120_000);

  const role = () => {
    const name = `bi_test_${Math.random().toString(36).slice(2, 8)}`;
    roles.push(name);
    return name;
  };
  const connectAs = async (connect: string, password: string) => {
    const url = new URL(connect);
    url.password = password;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    return client;
  };

  it('creates a role that reads the views (with their comments) and cannot read the tables nor write anything', async () => {
    const name = role();
    const out = JSON.parse(await runCli(['sql-role', 'create', '--name', name]));
    expect(out).toMatchObject({ role: name, database: db.name, views: ['cem_customers', 'cem_timeline'] });
    expect(out.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(out.connect).not.toContain(out.password);

    const bi = await connectAs(out.connect, out.password);
    try {
      const customers = await bi.query('SELECT count(*)::int AS n FROM cem_customers');
      const live = await store.db
        .selectFrom('c360_customers')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('merged_into', 'is', null)
        .executeTakeFirstOrThrow();
      expect(customers.rows[0].n).toBe(live.n);
      expect((await bi.query('SELECT count(*)::int AS n FROM cem_timeline')).rows[0].n).toBe(log.length);
      const comment = await bi.query(
        `SELECT col_description('cem_customers'::regclass, 6) AS c, obj_description('cem_timeline'::regclass) AS t`,
      );
      expect(comment.rows[0].c).toMatch(/^none \(never bought\), low/);
      expect(comment.rows[0].t).toMatch(/^Every event of every customer/);

      for (const denied of [
        'SELECT * FROM c360_customers LIMIT 1',
        'SELECT * FROM projection_checkpoints',
        "UPDATE cem_customers SET value_segment = 'strategic'",
        'DELETE FROM cem_timeline',
        "INSERT INTO cem_customers (customer_id) VALUES ('x')",
        'CREATE TABLE mine (x int)',
      ]) {
        await expect(bi.query(denied)).rejects.toThrow(/permission denied|read-only transaction/);
      }
      // even a read-write transaction asked for explicitly cannot write: no grant
      await bi.query('BEGIN READ WRITE');
      await expect(bi.query('DELETE FROM cem_timeline')).rejects.toThrow(/permission denied/);
      await bi.query('ROLLBACK');
    } finally {
      await bi.end();
    }
  }, 60_000);

  it('runs every example query of docs/sql.md as that role; monthly NPS by channel equals a recomputation from the log', async () => {
    const name = role();
    const out = JSON.parse(
      await runCli(['sql-role', 'create', '--name', name, '--password-env', 'BI_PASSWORD'], { BI_PASSWORD: 'a-long-enough-password-1' }),
    );
    expect(out.password).toBeUndefined();
    const bi = await connectAs(out.connect, 'a-long-enough-password-1');
    try {
      const queries = docQueries();
      expect(queries).toHaveLength(3);
      const results: Record<string, unknown>[][] = [];
      for (const q of queries) results.push((await bi.query(q)).rows);
      // [0] at-risk by segment, [1] monthly NPS by channel, [2] resolution time by category
      expect(results[1].map((r) => ({ month: r.month, channel: r.channel, answers: Number(r.answers), nps: Number(r.nps) }))).toEqual(
        npsByMonthAndChannel(log),
      );
      expect(results[1].length).toBeGreaterThan(5);
      expect(results[2].length).toBeGreaterThan(0);
      expect(Object.keys(results[0][0] ?? { value_segment: 1 })).toContain('value_segment');
    } finally {
      await bi.end();
    }
  }, 60_000);

  it('bad input: a bad role name, a short password, an existing role, a granted role that does not exist, the SQLite store', async () => {
    const name = role();
    await runCli(['sql-role', 'create', '--name', name]);
    const failures = await Promise.all([
      runCli(['sql-role', 'create', '--name', 'Robert"); DROP TABLE x; --']).catch((e: Error) => e.message),
      runCli(['sql-role', 'create', '--name', role(), '--password-env', 'SHORT'], { SHORT: 'short' }).catch((e: Error) => e.message),
      runCli(['sql-role', 'create', '--name', name]).catch((e: Error) => e.message),
      runCli(['sql-role', 'grant', '--name', 'no_such_role_x1']).catch((e: Error) => e.message),
      runCli(['sql-role', 'create', '--name', role()], { READ_STORE: 'sqlite' }).catch((e: Error) => e.message),
    ]);
    expect(failures[0]).toContain('--name: "Robert\\"); DROP TABLE x; --" is not a role name');
    expect(failures[1]).toContain('password: at least 16 characters');
    expect(failures[2]).toContain(`role ${name} already exists: choose another name, or \`cem sql-role grant --name ${name}\``);
    expect(failures[3]).toContain('role no_such_role_x1 does not exist');
    expect(failures[4]).toContain('sql-role: needs the PostgreSQL read store (READ_STORE=postgres and DATABASE_URL)');
    for (const f of failures) expect(f).toMatch(/^exit 1: /);
    expect(JSON.parse(await runCli(['sql-role', 'grant', '--name', name]))).toMatchObject({
      role: name,
      views: ['cem_customers', 'cem_timeline'],
    });
  }, 120_000);
});
