import { Injectable } from '@nestjs/common';
import { EventsHandler } from '@nestjs/cqrs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { RecordedEvent } from '@cem/event-store';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import type { ReadModel } from '../kit/read-model';
import { CheckpointMovedError, claimCheckpoint, readCheckpoint, resetProjection, writeCheckpoint } from '../projector/checkpoints';
import { ProjectedEvent } from '../projector/projected-event';
import { startProjector } from '../projector/projector.module';
import { READ_MODELS } from '../read-models';
import { directSqlOf, type BulkUpsert, type DirectSql } from '../store/direct-sql';
import { openSqliteReadStore, type ReadStore } from '../store/read-store';
import { checksumReadModel } from '../verify/read-model-checksum';

/** A fresh, empty read store of the kind under test (a new file, a new database). */
export interface ReadStoreFactory {
  open(): Promise<ReadStore>;
  /** drops what open() created (the stores are closed by the suite) */
  cleanup?(): Promise<void>;
}

/** Every table of a read model, rows as canonical JSON (columns by name), sorted: equal dumps = identical tables. */
export async function dumpTables(db: Kysely<any>, model: ReadModel): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of model.tables) {
    const rows = await db.selectFrom(table).selectAll().execute();
    // sorted here, not in SQL: the dump must not depend on a store's collation
    out[table] = rows
      .map((r) =>
        JSON.stringify(
          Object.keys(r)
            .sort()
            .map((k) => [k, r[k]]),
        ),
      )
      .sort();
  }
  return out;
}

/**
 * The read-store contract: for every read model of READ_MODELS, the same seeded log projected into
 * the store under test and into the embedded SQLite reference gives identical tables and identical
 * query answers, and the projector's properties hold on that store: the checkpoint commits in the
 * batch's transaction (a failed batch leaves nothing), handled twice = handled once, a rebuild
 * from 0 gives the same tables. A read model added to READ_MODELS is covered with no extra work but
 * its `contractQueries` (docs/read-models.md).
 */
export function readStoreContract(name: string, factory: ReadStoreFactory, readModels: readonly ReadModel[] = READ_MODELS): void {
  describe(`read-store contract: ${name}`, () => {
    let loaded: LoadedPlatform;
    let log: RecordedEvent[];
    let referenceDir: string;
    let head: number;
    let reference: ReadStore;
    let tested: ReadStore;
    const opened: ReadStore[] = [];

    const open = async () => {
      const store = await factory.open();
      opened.push(store);
      return store;
    };

    /** projects `models` into `store` until the head of the log, batch by batch */
    const project = async (store: ReadStore, models: readonly ReadModel[], batchSize: number, retryDelayMs?: number) => {
      const running = await startProjector({
        store: loaded.platform.store,
        db: store.db,
        readStore: store,
        readModels: models,
        batchSize,
        retryDelayMs,
      });
      try {
        expect(await running.projector.whenCaughtUp(head, 120_000)).toBe(true);
      } finally {
        await running.close();
      }
    };

    beforeAll(async () => {
      loaded = await platformWithHistory({ seed: 11, persons: 200, eventsPerPerson: [3, 25], lateShare: 0.1 });
      for (const model of readModels) for (const write of model.contractEvents?.() ?? []) await loaded.platform.store.appendMany([write]);
      log = await loaded.platform.store.readAll();
      head = await loaded.platform.store.headPosition();
      referenceDir = mkdtempSync(join(tmpdir(), 'cem-contract-'));
      // every read model in one store, as deployed: a query may read another read model's tables
      reference = await openSqliteReadStore(join(referenceDir, 'reference.db'), { readModels });
      await project(reference, readModels, 500);
      tested = await open();
      // another batch size than the reference's: batching must not change the result either
      await project(tested, readModels, 97);
    }, 300_000);

    afterAll(async () => {
      for (const store of opened) await store.close().catch(() => undefined);
      await reference?.close();
      await factory.cleanup?.();
      await loaded?.cleanup();
      if (referenceDir) rmSync(referenceDir, { recursive: true, force: true });
    }, 120_000);

    it('the seeded log is worth testing on (thousands of events, merges, every read model writes rows)', async () => {
      expect(log.length).toBeGreaterThan(2_000);
      expect(log.some((e) => e.type === 'customers.merged')).toBe(true);
      for (const model of readModels) {
        const rows = Object.values(await dumpTables(reference.db, model)).reduce((n, t) => n + t.length, 0);
        expect({ model: model.name, wroteRows: rows > 0 }).toEqual({ model: model.name, wroteRows: true });
      }
    });

    describe('DirectSql (the hot path of projections) means the same on this store', () => {
      let store: ReadStore;
      const rows = async (text = 'SELECT k, n, d FROM contract_direct ORDER BY k') =>
        store.db.transaction().execute((trx) => directSqlOf(store.db, trx).all(text));
      const inTransaction = (use: (sql: DirectSql) => Promise<void>) =>
        store.db.transaction().execute((trx) => use(directSqlOf(store.db, trx)));
      const spec: BulkUpsert = { table: 'contract_direct', columns: ['k', 'n', 'd'], conflict: ['k'], update: ['n', 'd'] };

      beforeAll(async () => {
        store = await open();
        await inTransaction((sql) => sql.run('CREATE TABLE contract_direct (k text PRIMARY KEY, n bigint NOT NULL, d double precision)'));
      });
      beforeEach(() => inTransaction((sql) => sql.run('DELETE FROM contract_direct')));

      it('upsert: rows of one key in one call are one write, the last wins (DO UPDATE) or the first (DO NOTHING)', async () => {
        await inTransaction((sql) =>
          sql.upsert(spec, [
            ['a', 1, 0.5],
            ['b', 2, null],
            ['a', 3, 1.25],
          ]),
        );
        expect(await rows()).toEqual([
          { k: 'a', n: 3, d: 1.25 },
          { k: 'b', n: 2, d: null },
        ]);
        await inTransaction((sql) =>
          sql.upsert({ ...spec, update: 'nothing' }, [
            ['a', 9, 9],
            ['c', 4, 0.1],
            ['c', 5, 0.2],
          ]),
        );
        expect(await rows()).toEqual([
          { k: 'a', n: 3, d: 1.25 },
          { k: 'b', n: 2, d: null },
          { k: 'c', n: 4, d: 0.1 },
        ]);
      });

      it('upsert by expression (a counter) adds to the stored row; two rows of one key in such a call are refused', async () => {
        const counter: BulkUpsert = { ...spec, update: [['n', 'contract_direct.n + excluded.n']] };
        await inTransaction((sql) => sql.upsert(counter, [['a', 1, null]]));
        await inTransaction((sql) =>
          sql.upsert(counter, [
            ['a', 2, null],
            ['b', 5, null],
          ]),
        );
        expect(await rows()).toEqual([
          { k: 'a', n: 3, d: null },
          { k: 'b', n: 5, d: null },
        ]);
        await expect(
          inTransaction((sql) =>
            sql.upsert(counter, [
              ['a', 1, null],
              ['a', 1, null],
            ]),
          ),
        ).rejects.toThrow('bulk upsert into contract_direct: two rows with the key ["a"] and an update by expression: combine them first');
        await expect(inTransaction((sql) => sql.upsert(spec, [['a', 1]]))).rejects.toThrow('a row has 2 values for 3 columns');
      });

      it('writes and reads 25,000 rows in bulk; selectByKeys finds each key once, whatever the number of keys', async () => {
        const many = Array.from({ length: 25_000 }, (_, i) => [`k${String(i).padStart(6, '0')}`, i * 2 ** 20, i / 3]);
        await inTransaction((sql) => sql.upsert(spec, many));
        const wanted = many.filter((_, i) => i % 2 === 0).map((r) => r[0] as string);
        const found = await store.db
          .transaction()
          .execute((trx) =>
            directSqlOf(store.db, trx).selectByKeys<{ k: string; n: number }>('contract_direct', ['k', 'n'], 'k', [...wanted, 'absent']),
          );
        expect(found.map((r) => r.k).sort()).toEqual(wanted);
        // bigints past 2^31 come back as exact numbers
        expect(found.find((r) => r.k === 'k024998')!.n).toBe(24_998 * 2 ** 20);
        expect(
          await store.db.transaction().execute((trx) => directSqlOf(store.db, trx).selectByKeys('contract_direct', ['k'], 'k', [])),
        ).toEqual([]);
      });

      it('compares and orders text byte by byte, and leaves a ? inside a quoted literal alone', async () => {
        await inTransaction((sql) =>
          sql.upsert(
            spec,
            ['b', 'B', 'a', '_', 'é', 'Z9', '2025-01-01T00:00:00.000Z'].map((k, i) => [k, i, null]),
          ),
        );
        expect((await rows()).map((r) => r.k)).toEqual(['2025-01-01T00:00:00.000Z', 'B', 'Z9', '_', 'a', 'b', 'é']);
        expect(await rows("SELECT k FROM contract_direct WHERE k <> 'what?' AND k > 'a' ORDER BY k")).toEqual([{ k: 'b' }, { k: 'é' }]);
        const params = await store.db
          .transaction()
          .execute((trx) => directSqlOf(store.db, trx).all("SELECT k FROM contract_direct WHERE k <> 'it''s?' AND n = ?", [4]));
        expect(params).toEqual([{ k: 'é' }]);
      });
    });

    it('fences a stale writer: a lane whose checkpoint another writer moved fails instead of applying a batch twice', async () => {
      const store = await open();
      await writeCheckpoint(store.db, 'contract-fence', 100, 1);
      await store.db.transaction().execute((trx) => claimCheckpoint(trx, 'contract-fence', 100, 1));
      await expect(store.db.transaction().execute((trx) => claimCheckpoint(trx, 'contract-fence', 40, 1))).rejects.toBeInstanceOf(
        CheckpointMovedError,
      );
    });

    describe.each(readModels.map((m) => [m.name, m] as const))('%s', (_name, model) => {
      let store: ReadStore;
      let expected: Record<string, string[]>;
      let version: number;

      beforeAll(async () => {
        store = tested;
        expected = await dumpTables(reference.db, model);
        // the version the lane wrote (a projection may add its configuration to the model's)
        version = (await readCheckpoint(reference.db, model.name))!.version;
      });

      it('projects every table row for row like the embedded reference, checkpoint at the head', async () => {
        expect(await dumpTables(store.db, model)).toEqual(expected);
        expect(await readCheckpoint(store.db, model.name)).toEqual({ position: head, version });
      });

      it('has the checksum of the reference (cem verify compares copies on either store)', async () => {
        const [here, there] = [
          await checksumReadModel(store.db, store.kind, model),
          await checksumReadModel(reference.db, 'sqlite', model),
        ];
        expect(here).toEqual(there);
        expect(here.tables.map((t) => t.table)).toEqual([...model.tables]);
      });

      it('answers its queries like the reference', async () => {
        if (!model.contractQueries) {
          throw new Error(`read model ${model.name} has no contractQueries: give it some (docs/read-models.md, "Portability")`);
        }
        const context = { now: () => loaded.history.now };
        const answers = await model.contractQueries(model.queries(store.db as Kysely<any>, context), log);
        const referenceAnswers = await model.contractQueries(model.queries(reference.db as Kysely<any>, context), log);
        expect(JSON.parse(JSON.stringify(answers))).toEqual(JSON.parse(JSON.stringify(referenceAnswers)));
        expect(JSON.stringify(answers).length).toBeGreaterThan(100);
      });

      it('handled twice = handled once: the checkpoint moved back 40% of the log, projected again, same tables', async () => {
        await writeCheckpoint(store.db, model.name, log[Math.floor(log.length * 0.6)].position, version);
        await project(store, readModels, 211);
        expect(await dumpTables(store.db, model)).toEqual(expected);
      }, 300_000);

      it('rebuilds from position 0 (tables emptied, checkpoint 0) to the same tables', async () => {
        await resetProjection(store.db, model.name, model.tables, version);
        expect(await readCheckpoint(store.db, model.name)).toEqual({ position: 0, version });
        await project(store, readModels, 500);
        expect(await dumpTables(store.db, model)).toEqual(expected);
      }, 300_000);

      it('commits rows and checkpoint in one transaction: a batch failing after its writes leaves nothing, the retry applies it once', async () => {
        const fresh = await open();
        const failing = failingAfterCommit(model, 2);
        await project(fresh, [failing.model], 300, 10);
        expect(failing.failures()).toBe(2);
        expect(await dumpTables(fresh.db, model)).toEqual(expected);
        // and while it fails, nothing of the batch is visible: a projector that always fails leaves the store empty
        const never = await open();
        const alwaysFailing = failingAfterCommit(model, Infinity);
        const running = await startProjector({
          store: loaded.platform.store,
          db: never.db,
          readStore: never,
          readModels: [alwaysFailing.model],
          batchSize: 300,
          retryDelayMs: 10,
        });
        try {
          while (alwaysFailing.failures() < 3) await new Promise((r) => setTimeout(r, 20));
        } finally {
          await running.close();
        }
        const empty = Object.fromEntries(model.tables.map((t) => [t, []]));
        expect(await dumpTables(never.db, model)).toEqual(empty);
        expect((await readCheckpoint(never.db, model.name))?.position ?? 0).toBe(0);
      }, 300_000);
    });
  });
}

/** `model` whose projection throws after writing its first `times` batches (before the checkpoint is written and committed). */
function failingAfterCommit(model: ReadModel, times: number) {
  let failures = 0;
  const Base = model.projection as new (...args: any[]) => any;
  @Injectable()
  @EventsHandler(ProjectedEvent)
  class FailingAfterCommit extends Base {
    async commitBatch(...args: unknown[]): Promise<void> {
      await super.commitBatch(...args);
      if (failures < times) {
        failures++;
        throw new Error('contract: failing after the batch was written');
      }
    }
  }
  return { model: { ...model, projection: FailingAfterCommit } as ReadModel, failures: () => failures };
}
