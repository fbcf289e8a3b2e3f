import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { openPostgresReadStore, READ_MODELS, startProjector, type ReadStore } from '@cem/read-models';
import { dumpTables } from '@cem/read-models/contract/read-store.contract';
import { platformWithHistory, type LoadedPlatform } from '../../../test/support/read-side-harness';
import { describeWithPostgres, freshDatabase, type TestDatabase } from '../../../test/support/postgres-test-env';
import { runTs } from '../../../test/support/run-ts';

/** The checkpoints of every read model, read as another process would (0 before the first commit). */
async function checkpoints(url: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ position: string }>(`SELECT position FROM projection_checkpoints WHERE projection = ANY($1)`, [
      READ_MODELS.map((m) => m.name),
    ]);
    return rows.length < READ_MODELS.length ? [0] : rows.map((r) => Number(r.position));
  } catch {
    return [0]; // not migrated yet
  } finally {
    await client.end();
  }
}
const slowest = async (url: string) => Math.min(...(await checkpoints(url)));

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const outputOf = (child: ChildProcess) => {
  const out = { text: '' };
  child.stdout?.on('data', (d) => (out.text += d));
  child.stderr?.on('data', (d) => (out.text += d));
  return out;
};
const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );

describeWithPostgres('projector process (apps/projector) on PostgreSQL', () => {
  let loaded: LoadedPlatform;
  let head: number;
  const databases: TestDatabase[] = [];
  let reference: ReadStore;
  let expected: Record<string, Record<string, string[]>>;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 12, persons: 600, eventsPerPerson: [5, 30], lateShare: 0.1 });
    head = await loaded.platform.store.headPosition();
    // uninterrupted reference, in this process
    const db = await freshDatabase();
    databases.push(db);
    reference = await openPostgresReadStore(db.url);
    const running = await startProjector({
      store: loaded.platform.store,
      db: reference.db,
      readStore: reference,
      dataDir: loaded.dir,
      batchSize: 500,
    });
    expect(await running.projector.whenCaughtUp(head, 120_000)).toBe(true);
    await running.close();
    expected = Object.fromEntries(await Promise.all(READ_MODELS.map(async (m) => [m.name, await dumpTables(reference.db, m)] as const)));
  }, 300_000);

  afterAll(async () => {
    await reference?.close();
    for (const db of databases) await db.drop();
    await loaded?.cleanup();
  }, 120_000);

  const envFor = (url: string, batchSize = '37') => ({
    DATA_DIR: loaded.dir,
    SQLITE_SYNCHRONOUS: 'NORMAL',
    READ_STORE: 'postgres',
    DATABASE_URL: url,
    PROJECTOR_BATCH_SIZE: batchSize,
    LOG_LEVEL: 'warn',
  });
  const tablesOf = async (url: string) => {
    const store = await openPostgresReadStore(url, { migrate: false });
    try {
      return Object.fromEntries(await Promise.all(READ_MODELS.map(async (m) => [m.name, await dumpTables(store.db, m)] as const)));
    } finally {
      await store.close();
    }
  };

  it('killed with SIGKILL mid-batch, twice, then restarted: tables identical to an uninterrupted run', async () => {
    const db = await freshDatabase();
    databases.push(db);
    const env = envFor(db.url);
    const killedAt: number[] = [];
    for (const share of [0.3, 0.65]) {
      const child = runTs('apps/projector/src/main.ts', env);
      const exited = exitOf(child);
      await until(async () => (await slowest(db.url)) > head * share, 120_000);
      child.kill('SIGKILL');
      expect((await exited).signal).toBe('SIGKILL');
      killedAt.push(await slowest(db.url));
    }
    expect(killedAt[0]).toBeLessThan(head);
    expect(killedAt[1]).toBeLessThan(head);

    const child = runTs('apps/projector/src/main.ts', env);
    const exited = exitOf(child);
    await until(async () => (await slowest(db.url)) === head, 120_000);
    child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
    expect(await tablesOf(db.url)).toEqual(expected);
  }, 400_000);

  it('two projector processes started at once: one projects, the other waits and says so; tables correct; the waiter takes over', async () => {
    const db = await freshDatabase();
    databases.push(db);
    const env = envFor(db.url, '200');
    const children = [runTs('apps/projector/src/main.ts', env), runTs('apps/projector/src/main.ts', env)];
    const outputs = children.map(outputOf);
    const exits = children.map(exitOf);
    await until(async () => (await slowest(db.url)) === head, 120_000);
    const waiting = (i: number) => outputs[i].text.includes('another projector process holds the read store');
    await until(async () => waiting(0) || waiting(1), 20_000);
    const [waiter, holder] = waiting(0) ? [0, 1] : [1, 0];
    expect(waiting(holder)).toBe(false);
    expect(await tablesOf(db.url)).toEqual(expected);

    // the holder stops: the waiter gets the lock and follows the log from the stored checkpoints
    children[holder].kill('SIGTERM');
    expect((await exits[holder]).code).toBe(0);
    const [result] = await loaded.platform.ingestion.ingest([
      {
        eventId: '0c0c0c0c-0000-4000-8000-000000000042',
        type: 'survey.answered',
        occurredAt: new Date(loaded.history.now - 1000).toISOString(),
        source: 'qualtrics',
        channel: 'email',
        customer: { identifiers: [{ kind: 'email', value: 'p12-1@example.com' }] },
        data: { nps: 9 },
      },
    ]);
    await until(async () => (await slowest(db.url)) >= result.position, 60_000);
    children[waiter].kill('SIGTERM');
    expect((await exits[waiter]).code).toBe(0);
  }, 300_000);
});
