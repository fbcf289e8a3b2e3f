import { sql } from 'kysely';
import pg from 'pg';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { describeWithPostgres, freshDatabase, TEST_DATABASE_URL, type TestDatabase } from '../../../../test/support/postgres-test-env';
import { dumpTables } from '../contract/read-store.contract';
import { customer360 } from '../customer-360';
import { readCheckpoint } from '../projector/checkpoints';
import { startProjector } from '../projector/projector.module';
import { READ_MODELS } from '../read-models';
import { openReadSide } from '../read-side';
import { CHECKPOINT_MIGRATIONS, OutdatedReadStoreError } from './migrations';
import { isBootError } from './open-read-store';
import { openPostgresReadStore, ReadStoreOpenError } from './postgres-read-store';
import type { ReadStore } from './read-store';

const withUrl = (changes: { password?: string; database?: string; port?: string }) => {
  const url = new URL(TEST_DATABASE_URL!);
  if (changes.password !== undefined) url.password = changes.password;
  if (changes.database !== undefined) url.pathname = `/${changes.database}`;
  if (changes.port !== undefined) url.port = changes.port;
  return url.toString();
};

describe('PostgreSQL read store: boot errors that need no server', () => {
  it('a malformed DATABASE_URL is refused naming the variable, never showing the password', async () => {
    for (const [url, message] of [
      ['postgres//cem:s3cret@localhost/cem', 'DATABASE_URL: not a URL (expected postgres://user:password@host:5432/database)'],
      ['mysql://cem:s3cret@localhost/cem', 'DATABASE_URL: must start with postgres:// or postgresql://'],
      [
        'postgres://cem:s3cret@localhost',
        'DATABASE_URL: must name one database after the host (postgres://user:password@host:5432/database)',
      ],
    ]) {
      const error = await openPostgresReadStore(url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ReadStoreOpenError);
      expect((error as Error).message).toBe(message);
      expect(isBootError(error)).toBe(true);
    }
  });

  it('a server that is down: "cannot connect", with host and port', async () => {
    const error = await openPostgresReadStore('postgres://cem:s3cret@127.0.0.1:1/cem').catch((e: unknown) => e);
    expect((error as Error).message).toBe('DATABASE_URL: cannot connect to 127.0.0.1:1 (connection refused): is PostgreSQL running there?');
  });
});

describeWithPostgres('PostgreSQL read store', () => {
  const databases: TestDatabase[] = [];
  const stores: ReadStore[] = [];
  const fresh = async () => {
    const db = await freshDatabase();
    databases.push(db);
    return db;
  };
  const open = async (...args: Parameters<typeof openPostgresReadStore>) => {
    const store = await openPostgresReadStore(...args);
    stores.push(store);
    return store;
  };
  let loaded: LoadedPlatform;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 5, persons: 120, eventsPerPerson: [3, 20], lateShare: 0.1 });
  }, 120_000);
  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    for (const db of databases) await db.drop();
    await loaded?.cleanup();
  }, 120_000);

  it('refuses wrong credentials and a missing database at boot, naming the variable and not the password', async () => {
    const badPassword = await openPostgresReadStore(withUrl({ password: 'not-the-password' })).catch((e: unknown) => e);
    expect((badPassword as Error).message).toMatch(
      /^DATABASE_URL: the server at 127\.0\.0\.1:\d+ refused the credentials of user \w+ \(28P01\)$/,
    );
    expect((badPassword as Error).message).not.toContain('not-the-password');
    const missing = await openPostgresReadStore(withUrl({ database: 'no_such_database' })).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/^DATABASE_URL: database no_such_database does not exist on 127\.0\.0\.1:\d+$/);
  });

  it('migrations: landed `integer` columns are bigint and `text` compares byte by byte (COLLATE "C") on PostgreSQL', async () => {
    const db = await fresh();
    const store = await open(db.url);
    const columns = await sql<{ table_name: string; column_name: string; data_type: string; collation_name: string | null }>`
      SELECT table_name, column_name, data_type, collation_name FROM information_schema.columns
      WHERE table_name IN ('projection_checkpoints', 'c360_timeline') ORDER BY table_name, column_name`.execute(store.db);
    const types = Object.fromEntries(
      columns.rows.map((c) => [`${c.table_name}.${c.column_name}`, `${c.data_type}${c.collation_name ? ` ${c.collation_name}` : ''}`]),
    );
    expect(types).toMatchObject({
      'projection_checkpoints.position': 'bigint',
      'projection_checkpoints.version': 'bigint',
      'projection_checkpoints.projection': 'text C',
      'c360_timeline.position': 'bigint',
      'c360_timeline.occurred_at': 'text C',
      'c360_timeline.data': 'text C',
    });
  });

  it('a reader of a schema at an older migration is refused at boot with what to run', async () => {
    const db = await fresh();
    // "another version": only the checkpoint migrations ran
    await (await open(db.url, { readModels: [] })).close();
    const error = await openPostgresReadStore(db.url, { migrate: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutdatedReadStoreError);
    const known = READ_MODELS.flatMap((m) => Object.keys(m.migrations));
    expect((error as Error).message).toBe(
      `the read store at DATABASE_URL lacks ${known.length} migration(s) of this version (${known.join(', ')}): ` +
        'start this version of the projector (npm run projector), which migrates the store at start, then start this process again',
    );
    expect(Object.keys(CHECKPOINT_MIGRATIONS).some((m) => (error as Error).message.includes(m))).toBe(false);
    // once the projector of this version migrated it, the reader opens
    await (await open(db.url)).close();
    await (await open(db.url, { migrate: false })).close();
  });

  it('a second projector on the same database waits for the first (advisory lock), saying so, then projects', async () => {
    const db = await fresh();
    const [a, b] = [await open(db.url), await open(db.url)];
    const head = await loaded.platform.store.headPosition();
    const first = await startProjector({ store: loaded.platform.store, db: a.db, readStore: a, readModels: [customer360], batchSize: 200 });
    const said: unknown[] = [];
    let secondStarted = false;
    const second = startProjector({
      store: loaded.platform.store,
      db: b.db,
      readStore: b,
      readModels: [customer360],
      batchSize: 200,
      logger: { log: () => undefined, error: () => undefined, warn: (m: unknown) => said.push(m) },
    }).then((r) => {
      secondStarted = true;
      return r;
    });
    expect(await first.projector.whenCaughtUp(head, 60_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(secondStarted).toBe(false);
    expect(said).toEqual([{ msg: 'another projector process holds the read store (PostgreSQL advisory lock): waiting until it stops' }]);
    const expected = await dumpTables(a.db, customer360);
    await first.close();
    const running = await second;
    expect(await running.projector.whenCaughtUp(head, 60_000)).toBe(true);
    await running.close();
    expect(await dumpTables(b.db, customer360)).toEqual(expected);
    expect(await readCheckpoint(b.db, 'customer-360')).toEqual({ position: head, version: customer360.version });
  }, 120_000);

  it('readers are never blocked by a batch in progress: they see the last committed state', async () => {
    const db = await fresh();
    const store = await open(db.url);
    const reader = await open(db.url, { migrate: false });
    const running = await startProjector({ store: loaded.platform.store, db: store.db, readStore: store, readModels: [customer360] });
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await running.close();
    const before = await dumpTables(reader.db, customer360);
    // a writer holding every customer row (and the checkpoint) in an open transaction
    const trx = await store.db.startTransaction().execute();
    try {
      await trx.updateTable('c360_customers').set({ event_count: 0 }).execute();
      await trx.updateTable('projection_checkpoints').set({ position: 1 }).execute();
      const started = Date.now();
      expect(await dumpTables(reader.db, customer360)).toEqual(before);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await trx.rollback().execute();
    }
  }, 120_000);

  it('several API read sides (PROJECTOR=external) read one database while one projector process writes it', async () => {
    const db = await fresh();
    const location = { kind: 'postgres' as const, url: db.url };
    const writer = await open(db.url);
    const running = await startProjector({ store: loaded.platform.store, db: writer.db, readStore: writer, dataDir: loaded.dir });
    const readers = [
      await openReadSide({ dataDir: loaded.dir, readStore: location, store: loaded.platform.store, projector: 'external' }),
      await openReadSide({ dataDir: loaded.dir, readStore: location, store: loaded.platform.store, projector: 'external' }),
    ];
    try {
      const [result] = await loaded.platform.ingestion.ingest([
        {
          eventId: '0d0d0d0d-0000-4000-8000-000000000020',
          type: 'survey.answered',
          occurredAt: new Date(loaded.history.now - 1000).toISOString(),
          source: 'qualtrics',
          channel: 'email',
          customer: { identifiers: [{ kind: 'email', value: 'p5-3@example.com' }] },
          data: { nps: 10 },
        },
      ]);
      for (const reader of readers) {
        // read-your-writes through the stored checkpoints, then the same answer from each process
        expect(await reader.whenCaughtUp(result.position, 60_000, ['customer-360'])).toBe(true);
        const found = await reader.queries['customer-360'].byIdentifier({ kind: 'email', value: 'p5-3@example.com' });
        expect(found.kind === 'found' && found.view.scores.nps?.score).toBe(10);
        const health = await reader.health();
        expect(health).toMatchObject({ ready: true, projector: 'external' });
      }
    } finally {
      for (const reader of readers) await reader.close();
      await running.close();
    }
  }, 120_000);

  it('the server dropping the projector mid-batch: the batch rolls back, the lane retries with back-off, readiness says so, nothing applied twice', async () => {
    const db = await fresh();
    const reference = await fresh();
    const expectedStore = await open(reference.url);
    const head = await loaded.platform.store.headPosition();
    const ref = await startProjector({
      store: loaded.platform.store,
      db: expectedStore.db,
      readStore: expectedStore,
      readModels: [customer360],
    });
    expect(await ref.projector.whenCaughtUp(head, 60_000)).toBe(true);
    await ref.close();

    const readSide = await openReadSide({
      dataDir: loaded.dir,
      readStore: { kind: 'postgres', url: db.url },
      store: loaded.platform.store,
      batchSize: 25,
      logger: { log: () => undefined, error: () => undefined, warn: () => undefined },
    });
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      // kill the projector's connections while it catches up, a few times
      let kills = 0;
      let sawRetrying = false;
      while (kills < 3 && readSide.running!.projector.position < head) {
        await new Promise((r) => setTimeout(r, 40));
        const { rowCount } = await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'cem-projector' AND state <> 'idle'",
        );
        if (rowCount) kills++;
        const health = await readSide.health();
        if (health.status === 'retrying') {
          sawRetrying = true;
          expect(health.ready).toBe(false);
        }
      }
      expect(kills).toBeGreaterThan(0);
      expect(await readSide.whenCaughtUp(head, 90_000)).toBe(true);
      expect(sawRetrying || readSide.running!.projector.health.some((l) => l.failures > 0 || l.lastError !== undefined)).toBe(true);
      const models = READ_MODELS.filter((m) => m.name === customer360.name);
      for (const model of models) expect(await dumpTables(readSide.readStore.db, model)).toEqual(await dumpTables(expectedStore.db, model));
      expect((await readSide.health()).ready).toBe(true);
    } finally {
      await admin.end();
      await readSide.close();
    }
  }, 180_000);
});
