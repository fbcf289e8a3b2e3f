import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { ReadModel } from '../kit/read-model';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { generateHistories } from '../../../../test/support/customer-histories';
import { startProjector } from '../projector/projector.module';
import { READ_MODELS } from '../read-models';
import type { ReadStoreLocation } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { checksumReadModel } from '../verify/read-model-checksum';
import { verifyReadModels } from '../verify/verify-read-models';

/**
 * The checksum recomputed independently: every row of the read model's tables, columns by name,
 * sorted in memory by the primary key given here (not read from the store), hashed as documented.
 */
const KEYS: Record<string, string[]> = {
  c360_customers: ['customer_id'],
  c360_identifiers: ['kind', 'value'],
  c360_timeline: ['position'],
  ms_customers: ['customer_id'],
  ms_progress: ['customer_id', 'milestone_id'],
};
const bytewise = (a: unknown, b: unknown) =>
  typeof a === 'number' && typeof b === 'number' ? a - b : Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
async function plainChecksum(db: Kysely<any>, model: ReadModel): Promise<string> {
  const lines: string[] = [];
  for (const table of model.tables) {
    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(db);
    const columns = Object.keys(rows[0]).sort();
    const key = KEYS[table];
    rows.sort((a, b) => {
      for (const k of key) {
        const c = bytewise(a[k], b[k]);
        if (c !== 0) return c;
      }
      return 0;
    });
    const hash = createHash('sha256').update(JSON.stringify(columns));
    for (const r of rows) hash.update(JSON.stringify(columns.map((c) => r[c])) + '\n');
    lines.push(`${table}:${rows.length}:${hash.digest('hex')}`);
  }
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

export interface VerifyTarget {
  /** the live store of `dataDir` (a fresh database on PostgreSQL) */
  open(dataDir: string): Promise<{ location: ReadStoreLocation; live: ReadStore }>;
  cleanup?(): Promise<void>;
}

/**
 * `verifyReadModels` on a store kind: equal when untouched (even while the projector and ingestion
 * run), drift named per table and customer when a row is altered.
 */
export function verifySuite(name: string, target: VerifyTarget): void {
  describe(`verify read models: ${name}`, () => {
    let loaded: LoadedPlatform;
    let location: ReadStoreLocation;
    let live: ReadStore;
    const customer360 = READ_MODELS.find((m) => m.name === 'customer-360')!;
    const milestones = READ_MODELS.find((m) => m.name === 'milestones')!;

    beforeAll(async () => {
      loaded = await platformWithHistory({ seed: 5, persons: 60, eventsPerPerson: [2, 15], lateShare: 0.1 });
      ({ location, live } = await target.open(loaded.dir));
      const running = await startProjector({ store: loaded.platform.store, db: live.db, readStore: live, dataDir: loaded.dir });
      await running.projector.whenCaughtUpToHead(120_000);
      await running.close();
    }, 300_000);
    afterAll(async () => {
      await live?.close();
      await target.cleanup?.();
      await loaded?.cleanup();
    });

    const verify = (models: readonly ReadModel[] = READ_MODELS) =>
      verifyReadModels({ store: loaded.platform.store, location, live, readModels: models, dataDir: loaded.dir, batchSize: 113 });

    it('finds every read model equal to its rebuild, at the live checkpoint, with the independently recomputed checksum', async () => {
      const head = await loaded.platform.store.headPosition();
      const verdicts = await verify();
      expect(verdicts.map((v) => [v.readModel, v.status, v.position, v.driftCustomers])).toEqual(
        READ_MODELS.map((m) => [m.name, 'equal', head, []]),
      );
      for (const model of [customer360, milestones]) {
        const v = verdicts.find((x) => x.readModel === model.name)!;
        expect(v.live!.checksum).toBe(await plainChecksum(live.db as Kysely<any>, model));
        expect(v.live!.tables.every((t) => t.rows > 0)).toBe(true);
      }
    }, 300_000);

    it('stays equal while the projector projects and ingestion appends during the verify', async () => {
      const running = await startProjector({ store: loaded.platform.store, db: live.db, readStore: live, dataDir: loaded.dir });
      const more = generateHistories({ seed: 99, persons: 20, eventsPerPerson: [2, 6], lateShare: 0 });
      let stop = false;
      const ingesting = (async () => {
        for (let i = 0; i < more.envelopes.length && !stop; i += 5) await loaded.platform.ingestion.ingest(more.envelopes.slice(i, i + 5));
      })();
      try {
        const verdicts = await verify([customer360, milestones]);
        expect(verdicts.map((v) => [v.readModel, v.status])).toEqual([
          ['customer-360', 'equal'],
          ['milestones', 'equal'],
        ]);
      } finally {
        stop = true;
        await ingesting;
        await running.projector.whenCaughtUpToHead(120_000);
        await running.close();
      }
    }, 300_000);

    it('reports drift per table and per customer when a live row was altered or deleted, and nothing else', async () => {
      const first = async (table: string) =>
        (await sql<{ customer_id: string }>`SELECT customer_id FROM ${sql.table(table)} ORDER BY customer_id LIMIT 1`.execute(live.db))
          .rows[0].customer_id;
      const altered = await first('c360_customers');
      const deleted = await first('ms_progress');
      await sql`UPDATE c360_customers SET doc = ${'{}'} WHERE customer_id = ${altered}`.execute(live.db);
      await sql`DELETE FROM ms_progress WHERE customer_id = ${deleted}`.execute(live.db);
      const verdicts = await verify();
      expect(verdicts.map((v) => [v.readModel, v.status, v.driftTables, v.driftCustomers])).toEqual(
        READ_MODELS.map((m) =>
          m.name === 'customer-360'
            ? [m.name, 'drift', ['c360_customers'], [altered]]
            : m.name === 'milestones'
              ? [m.name, 'drift', ['ms_progress'], [deleted]]
              : [m.name, 'equal', [], []],
        ),
      );
      // the checksum of a copy is the same function on any copy: the altered live one differs from before
      const after = await checksumReadModel(live.db, live.kind, customer360);
      expect(after.checksum).toBe(verdicts[0].live!.checksum);
      expect(after.checksum).not.toBe(verdicts[0].rebuilt!.checksum);
    }, 300_000);
  });
}
