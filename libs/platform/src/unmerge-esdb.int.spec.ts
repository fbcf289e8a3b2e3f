import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { EsdbEventStore } from '@cem/event-store';
import { EsdbIdentityRegistry, type IdentityRegistry } from '@cem/identity';
import { IngestionService } from '@cem/ingestion';
import { customerStreamId } from '@cem/domain';
import { READ_MODELS } from '@cem/read-models';
import { startProjector } from '@cem/read-models/projector/projector.module';
import { openReadStore, READ_MODELS_FILE } from '@cem/read-models/store/open-read-store';
import { verifyReadModels } from '@cem/read-models/verify/verify-read-models';
import { EsdbDouble } from '../../../test/support/esdb-double';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { openPlatform, type Platform } from './platform';
import { unmergeCustomer } from './unmerge';

const ANA = { kind: 'email', value: 'ana.esdb@example.com' };
const BEN = { kind: 'email', value: 'ben.esdb@example.com' };

/** Unmerge with the log and the identity registry on EventStoreDB (the gRPC double), two API instances. */
describe('unmerge on EventStoreDB (gRPC double)', () => {
  let server: EsdbDouble;
  let dirs: string[];
  let platforms: Platform[];

  beforeEach(async () => {
    server = new EsdbDouble();
    const cs = await server.start();
    dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'cem-unmerge-esdb-')));
    platforms = dirs.map((dir) => {
      const store = EsdbEventStore.connect(cs);
      return openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }), {
        now: () => TEST_NOW,
        store,
        registry: new EsdbIdentityRegistry(store.client),
      });
    });
  });
  afterEach(async () => {
    await Promise.all(platforms.map((p) => p.close()));
    server.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('splits the customer off for every instance, keeps the pair apart, and the read models refold (live = rebuilt)', async () => {
    const [one, two] = platforms;
    const [ana] = await one.ingestion.ingest([envelope({ customer: { identifiers: [ANA] } })]);
    const [ben] = await two.ingestion.ingest([
      envelope({ type: 'purchase.completed', customer: { identifiers: [BEN] }, data: { orderId: 'o-1', amount: 20, currency: 'EUR' } }),
    ]);
    await one.ingestion.ingest([envelope({ customer: { identifiers: [ANA, BEN] } })]);
    await two.ingestion.ingest([
      envelope({ type: 'purchase.completed', customer: { identifiers: [BEN] }, data: { orderId: 'o-2', amount: 5, currency: 'EUR' } }),
    ]);
    const [s, b] = [ana.customerId, ben.customerId];
    expect(await two.registry.canonicalId(b)).toBe(s);

    const result = await unmergeCustomer(one, {
      customerId: s,
      splits: [{ customerId: b }],
      reason: 'CASE-ESDB',
      requestedBy: { kind: 'named', name: 'ops' },
    });
    expect(result.unmerged[0]).toMatchObject({ splitId: b, identifierCount: 1, reattributedEventIds: [expect.any(String)] });
    // the instance that ran it and a registry opened afresh on the same server agree
    const fresh = new EsdbIdentityRegistry((one.logStore as EsdbEventStore).client);
    for (const reg of [one.registry, fresh]) {
      expect(await reg.canonicalId(b)).toBe(b);
      expect(await reg.lookup(BEN as never)).toBe(b);
      expect(await reg.lookup(ANA as never)).toBe(s);
    }
    const [later] = await one.ingestion.ingest([envelope({ customer: { identifiers: [BEN] } })]);
    expect(later.customerId).toBe(b);
    const [both] = await one.ingestion.ingest([envelope({ customer: { identifiers: [ANA, BEN] } })]);
    expect(both.customerId).toBe(s);
    expect(await one.registry.identityConflicts({ offset: 0, limit: 10 })).toEqual([
      expect.objectContaining({ triggeringEventId: both.eventId, customerIds: [s, b] }),
    ]);

    // the read models, projected from EventStoreDB
    const location = { kind: 'sqlite' as const, dataDir: dirs[0] };
    const live = await openReadStore(location, { role: 'writer' });
    const running = await startProjector({ store: one.store, db: live.db, readStore: live, dataDir: dirs[0], batchSize: 3 });
    try {
      expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
      const db = new Database(join(dirs[0], READ_MODELS_FILE), { readonly: true });
      const doc = (id: string) =>
        JSON.parse((db.prepare('SELECT doc FROM c360_customers WHERE customer_id = ?').get(id) as { doc: string }).doc);
      // Ben: its purchase, the one after the merge through its email only, and the later event; Ana: hers, the merge's trigger, the conflict
      expect([doc(b).eventCount, doc(b).purchases, doc(b).mergedInto]).toEqual([3, 2, null]);
      expect([doc(s).eventCount, doc(s).purchases]).toEqual([3, 0]);
      expect(doc(s).merges.map((m: { kind: string }) => m.kind)).toEqual(['absorbed', 'unmerged']);
      db.close();
      const verdicts = await verifyReadModels({
        store: one.store,
        location,
        live,
        readModels: READ_MODELS,
        dataDir: dirs[0],
        batchSize: 4,
      });
      expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
    } finally {
      await running.close();
      await live.close();
    }
  }, 120_000);

  /**
   * The unmerge race, pinned: ingestion on instance `one` resolves an event naming Ben to the survivor,
   * then the whole unmerge runs (on `by`) before ingestion reads the heads it appends at. On the same
   * instance the registry's unmerge generation (from its index, no read) changed; from another instance
   * the survivor's stream moved under this one's remembered revision (a conflict). Either way the event
   * is resolved again, from an index that has the move: Ben's.
   */
  async function pinnedRace(by: 'same instance' | 'other instance') {
    const [one, two] = platforms;
    const [ana] = await one.ingestion.ingest([envelope({ customer: { identifiers: [ANA] } })]);
    const [ben] = await one.ingestion.ingest([envelope({ customer: { identifiers: [BEN] } })]);
    await one.ingestion.ingest([envelope({ customer: { identifiers: [ANA, BEN] } })]);
    const [s, b] = [ana.customerId, ben.customerId];
    const runner = by === 'same instance' ? one : two;
    let unmerged = false;
    const racing: IdentityRegistry = Object.create(one.registry, {
      resolveBatch: {
        value: async (requests: Parameters<IdentityRegistry['resolveBatch']>[0]) => {
          const resolutions = await one.registry.resolveBatch(requests);
          if (!unmerged) {
            unmerged = true;
            expect(resolutions[0].customerId).toBe(s); // resolved before the move
            await unmergeCustomer(runner, {
              customerId: s,
              splits: [{ customerId: b }],
              reason: 'CASE-RACE',
              requestedBy: { kind: 'named', name: 'ops' },
            });
            // another instance's unmerge reaches this one through its subscription (bounded wait, not a sleep)
            const written = (runner.registry as EsdbIdentityRegistry).lastWrittenPosition;
            expect(await (one.registry as EsdbIdentityRegistry).followedUpTo(written, 20_000)).toBe(true);
          }
          return resolutions;
        },
      },
    });
    const ingestion = new IngestionService(one.store, racing, { now: () => TEST_NOW, maxFutureSkewMs: 300_000 });
    const event = envelope({ customer: { identifiers: [BEN] } });
    const [result] = await ingestion.ingest([event]);
    expect(unmerged).toBe(true);
    expect(result.customerId).toBe(b);
    const stored = (await one.store.readAll()).filter((e) => e.eventId === event.eventId);
    expect(stored.map((e) => e.streamId)).toEqual([customerStreamId(b)]);
  }

  it('the unmerge race, pinned: an event resolved to the survivor before an unmerge on the same instance is resolved again to the split customer', () =>
    pinnedRace('same instance'));
  it('the unmerge race, pinned: the same after an unmerge on another instance (its move followed, the survivor stream moved: a conflict)', () =>
    pinnedRace('other instance'));
});
