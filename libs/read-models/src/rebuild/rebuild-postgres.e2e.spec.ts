import { sql } from 'kysely';
import pg from 'pg';
import { generateHistories } from '../../../../test/support/customer-histories';
import { describeWithPostgres, freshDatabase, type TestDatabase } from '../../../../test/support/postgres-test-env';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { startProjector } from '../projector/projector.module';
import { READ_MODELS } from '../read-models';
import { openReadStore } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { readStoreCopyExists } from '../store/read-store-copy';
import { verifyReadModels } from '../verify/verify-read-models';
import { dropRebuild, runRebuild } from './blue-green-rebuild';

/** The blue/green rebuild on PostgreSQL: the shadow and the kept old copy are schemas of their own. */
describeWithPostgres('blue/green rebuild on PostgreSQL', () => {
  let loaded: LoadedPlatform;
  let database: TestDatabase;
  let live: ReadStore;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 31, persons: 60, eventsPerPerson: [2, 15], lateShare: 0.1 });
    database = await freshDatabase();
    live = await openReadStore({ kind: 'postgres', url: database.url }, { role: 'writer' });
  }, 120_000);
  afterAll(async () => {
    await live?.close();
    await database?.drop();
    await loaded?.cleanup();
  });

  it('switches while the projector projects and ingestion appends; the live copy then equals a fresh rebuild; drop removes the old schema', async () => {
    const location = { kind: 'postgres' as const, url: database.url };
    const running = await startProjector({ store: loaded.platform.store, db: live.db, readStore: live, dataDir: loaded.dir });
    const more = generateHistories({ seed: 32, persons: 30, eventsPerPerson: [2, 8], lateShare: 0 });
    let stop = false;
    const ingesting = (async () => {
      for (let i = 0; i < more.envelopes.length && !stop; i += 5) await loaded.platform.ingestion.ingest(more.envelopes.slice(i, i + 5));
    })();
    // readers throughout, through the tables and the analysts' view: no error, and once rows were seen never none again
    const reads = { done: 0, failed: [] as string[], emptyAfterRows: 0 };
    const reading = (async () => {
      let seenRows = false;
      while (!stop) {
        try {
          const { rows } = await sql<{ table: number; view: number }>`
            SELECT (SELECT count(*)::int FROM c360_timeline) AS table, (SELECT count(*)::int FROM cem_timeline) AS view`.execute(live.db);
          if (rows[0].table > 0) seenRows = true;
          else if (seenRows) reads.emptyAfterRows++;
          reads.done++;
        } catch (e) {
          reads.failed.push((e as Error).message);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const ctx = { store: loaded.platform.store, location, live, dataDir: loaded.dir, batchSize: 250, heartbeatMs: 50 };
    try {
      const record = await runRebuild(ctx, READ_MODELS);
      expect(record.state).toBe('switched');
      stop = true;
      await reading;
      expect(reads).toMatchObject({ failed: [], emptyAfterRows: 0 });
      expect(reads.done).toBeGreaterThan(0);
      expect(record.message).toMatch(/\(\d+ ms under the live write lock, tables moved between schemas\)/);
      expect(await readStoreCopyExists(location, live, record.shadowCopy)).toBe(false);
      expect(await readStoreCopyExists(location, live, record.oldCopy!)).toBe(true);
      // the old copy: the live tables moved there with their rows, and the checkpoints they were at
      const old = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(`${record.oldCopy}.c360_timeline`)}`.execute(live.db);
      expect(old.rows[0].n).toBeGreaterThan(0);
      const oldCheckpoints = await sql<{
        projection: string;
      }>`SELECT projection FROM ${sql.table(`${record.oldCopy}.projection_checkpoints`)} ORDER BY 1`.execute(live.db);
      expect(oldCheckpoints.rows.map((r) => r.projection)).toEqual(READ_MODELS.map((m) => m.name).sort());
      await ingesting;
      expect(await running.projector.whenCaughtUpToHead(120_000)).toBe(true);
      const verdicts = await verifyReadModels({
        store: loaded.platform.store,
        location,
        live,
        readModels: READ_MODELS,
        dataDir: loaded.dir,
      });
      expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
      await dropRebuild(ctx);
      expect(await readStoreCopyExists(location, live, record.oldCopy!)).toBe(false);
      // the analysts' views were re-pointed at the switched tables: dropping the old copy left them whole
      const counts = await sql<{ view: number; table: number }>`
        SELECT (SELECT count(*)::int FROM cem_timeline) AS view, (SELECT count(*)::int FROM c360_timeline) AS table`.execute(live.db);
      expect(counts.rows[0].view).toBe(counts.rows[0].table);
      expect(counts.rows[0].table).toBeGreaterThan(0);
    } finally {
      stop = true;
      await ingesting;
      await reading;
      await running.close();
    }
  }, 300_000);

  it('switches a live copy that lives in another schema than public (the connection current_schema)', async () => {
    const other = await freshDatabase();
    const admin = new pg.Client({ connectionString: other.url });
    await admin.connect();
    await admin.query('CREATE SCHEMA cem_live');
    await admin.query(`ALTER DATABASE ${other.name} SET search_path = cem_live`);
    const location = { kind: 'postgres' as const, url: other.url };
    const store = await openReadStore(location, { role: 'writer' });
    try {
      const running = await startProjector({ store: loaded.platform.store, db: store.db, readStore: store, dataDir: loaded.dir });
      expect(await running.projector.whenCaughtUpToHead(120_000)).toBe(true);
      await running.close();
      const ctx = { store: loaded.platform.store, location, live: store, dataDir: loaded.dir, batchSize: 500, heartbeatMs: 50 };
      expect(
        (
          await runRebuild(
            ctx,
            READ_MODELS.filter((m) => m.name === 'customer-360'),
          )
        ).state,
      ).toBe('switched');
      const verdicts = await verifyReadModels({
        store: loaded.platform.store,
        location,
        live: store,
        readModels: READ_MODELS,
        dataDir: loaded.dir,
      });
      expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
      const tables = await admin.query<{ table_schema: string }>(
        `SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name = 'c360_customers' ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.table_schema)).toEqual(['cem_live', expect.stringMatching(/^cem_old_/)]);
      await dropRebuild(ctx);
    } finally {
      await store.close();
      await admin.end();
      await other.drop();
    }
  }, 300_000);
});
