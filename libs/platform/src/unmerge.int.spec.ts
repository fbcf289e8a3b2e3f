import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { customerStreamId, type CustomersUnmergedV1 } from '@cem/domain';
import type { EventStore } from '@cem/event-store';
import type { IdentityRegistry } from '@cem/identity';
import { IngestionService } from '@cem/ingestion';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { Customer360Queries } from '@cem/read-models/customer-360/customer-360.query';
import { startProjector } from '@cem/read-models/projector/projector.module';
import { openSqliteReadStore } from '@cem/read-models/store/read-store';
import { openPlatform, type Platform } from './platform';
import { unmergeCustomer, UnmergeRefusedError } from './unmerge';

const ops = { kind: 'named' as const, name: 'ops-analyst' };
const ANA = { kind: 'email', value: 'ana.family@example.com' };
const ANA_PHONE = { kind: 'phone', value: '+31612340001' };
const BEN = { kind: 'email', value: 'ben.family@example.com' };
const BEN_CRM = { kind: 'crm', value: 'CRM-BEN-7' };

/** The write side of an unmerge on the embedded store, encryption on: registry, the event, refusals, concurrency. */
describe('unmerge (write side, embedded store)', () => {
  let dir: string;
  let platform: Platform;
  const keys = { master: randomBytes(32).toString('base64'), index: randomBytes(32).toString('base64') };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-unmerge-'));
    platform = openPlatform(
      loadConfig({
        DATA_DIR: dir,
        SQLITE_SYNCHRONOUS: 'NORMAL',
        LOG_LEVEL: 'silent',
        PRIVACY_MASTER_KEY: keys.master,
        PRIVACY_INDEX_SECRET: keys.index,
      }),
      { now: () => TEST_NOW },
    );
  });
  afterEach(async () => {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Ana (email, phone) and Ben (email, crm id), merged by a family event naming both emails. */
  async function mergedFamily() {
    const [ana] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [ANA, ANA_PHONE] } })]);
    const [ben] = await platform.ingestion.ingest([
      envelope({ type: 'web.visited', customer: { identifiers: [BEN, BEN_CRM] }, data: { url: 'https://shop.example.com/' } }),
    ]);
    const [family] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [ANA, BEN] } })]);
    expect(family.customerId).toBe(ana.customerId);
    expect(await platform.registry.canonicalId(ben.customerId)).toBe(ana.customerId);
    return { survivorId: ana.customerId, splitId: ben.customerId };
  }
  const unmerge = (customerId: string, splits: { customerId: string; identifiers?: string[] }[], reason: string | undefined = 'CASE-881') =>
    unmergeCustomer(platform, { customerId, splits, reason, requestedBy: ops });

  it('splits the customer off with every identifier it brought, records the evidence, and keeps the identifiers encrypted', async () => {
    const { survivorId, splitId } = await mergedFamily();
    const result = await unmerge(survivorId, [{ customerId: splitId }]);
    expect(result.unmerged).toEqual([
      expect.objectContaining({ survivorId, splitId, restoredIds: [], identifierCount: 2, reason: 'CASE-881', requestedBy: ops }),
    ]);
    for (const id of [BEN, BEN_CRM]) expect(await platform.registry.lookup(id as never)).toBe(splitId);
    for (const id of [ANA, ANA_PHONE]) expect(await platform.registry.lookup(id as never)).toBe(survivorId);
    expect(await platform.registry.canonicalId(splitId)).toBe(splitId);

    const stream = await platform.store.readStream(customerStreamId(survivorId));
    const recorded = stream.find((e) => e.type === 'customers.unmerged')!;
    expect(recorded.data as CustomersUnmergedV1).toMatchObject({
      splitId,
      mergeId: stream.find((e) => e.type === 'customers.merged')!.eventId,
      // keyed as the registry keys them (the blind index here), like a merge's evidence
      identifiers: [BEN_CRM, BEN].map((i) => platform.identifierIndex.keyOf(i as never)).sort(),
    });
    // the stored bytes hold the identifier values encrypted, like the merge's evidence
    const raw = await platform.logStore.readStream(customerStreamId(survivorId));
    expect(JSON.stringify(raw.find((e) => e.type === 'customers.unmerged'))).not.toContain('ben.family@example.com');
    expect(readFileSync(join(dir, 'events.db')).includes(Buffer.from('CRM-BEN-7'))).toBe(false);

    // new events go to the customer they belong to again
    const [later] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [BEN_CRM] } })]);
    expect(later.customerId).toBe(splitId);
  });

  it('gives back what a customer brought when one ingested batch registered it and merged it', async () => {
    const [ana] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [ANA, ANA_PHONE] } })]);
    // one batch: Ben is new (his email and CRM id), then an event naming Ana and Ben merges him into Ana
    const [ben, family] = await platform.ingestion.ingest([
      envelope({ type: 'web.visited', customer: { identifiers: [BEN, BEN_CRM] }, data: { url: 'https://shop.example.com/' } }),
      envelope({ customer: { identifiers: [ANA, BEN] } }),
    ]);
    expect(family.customerId).toBe(ana.customerId);
    const merged = (await platform.store.readStream(customerStreamId(ana.customerId))).find((e) => e.type === 'customers.merged')!;
    const [splitOff] = (merged.data as { mergedIds: string[] }).mergedIds;
    // the batch wrote the merge before Ben's own event
    const benStream = await platform.store.readStream(customerStreamId(splitOff));
    expect(benStream.find((e) => e.eventId === ben.eventId)!.position).toBeGreaterThan(merged.position);
    const result = await unmerge(ana.customerId, [{ customerId: splitOff }]);
    expect(result.unmerged).toEqual([expect.objectContaining({ splitId: splitOff, identifierCount: 2 })]);
    for (const id of [BEN, BEN_CRM]) expect(await platform.registry.lookup(id as never)).toBe(splitOff);
    for (const id of [ANA, ANA_PHONE]) expect(await platform.registry.lookup(id as never)).toBe(ana.customerId);
  });

  /** The customer the 360's identifier index answers for each identifier, projected in batches of `batchSize` into `name`.db. */
  async function lookupsIn360(name: string, batchSize: number, ids: object[]) {
    const readStore = await openSqliteReadStore(join(dir, `${name}.db`));
    const running = await startProjector({ store: platform.store, db: readStore.db, readStore, batchSize });
    try {
      expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
      const queries = new Customer360Queries(readStore.db as never, () => TEST_NOW, platform.identifierIndex);
      return await Promise.all(ids.map((id) => queries.customerIdOf(id as never)));
    } finally {
      await running.close();
      await readStore.close();
    }
  }
  const registryLookups = (ids: object[]) => Promise.all(ids.map((id) => platform.registry.lookup(id as never)));

  it("the 360's identifier lookup answers the customer the registry answers after an unmerge, live and folded from 0 in one batch", async () => {
    const ids = [ANA, ANA_PHONE, BEN, BEN_CRM];
    const { survivorId, splitId } = await mergedFamily();
    // live: the merge projected before the unmerge
    expect(await lookupsIn360('live', 100, ids)).toEqual([survivorId, survivorId, survivorId, survivorId]);
    await unmerge(survivorId, [{ customerId: splitId }]);
    expect(await registryLookups(ids)).toEqual([survivorId, survivorId, splitId, splitId]);
    expect(await lookupsIn360('live', 100, ids)).toEqual(await registryLookups(ids));
    // from 0: the merge and the unmerge in one batch, and one event per batch
    expect(await lookupsIn360('one-batch', 100, ids)).toEqual(await registryLookups(ids));
    expect(await lookupsIn360('small-batches', 1, ids)).toEqual(await registryLookups(ids));
  }, 120_000);

  it("the 360's identifier lookup follows a partial unmerge: an identifier not named stays with the survivor, as in the registry", async () => {
    const ids = [ANA, ANA_PHONE, BEN, BEN_CRM];
    const { survivorId, splitId } = await mergedFamily();
    expect(await lookupsIn360('live', 100, ids)).toEqual([survivorId, survivorId, survivorId, survivorId]);
    await unmerge(survivorId, [{ customerId: splitId, identifiers: ['email:ben.family@example.com'] }]);
    expect(await registryLookups(ids)).toEqual([survivorId, survivorId, splitId, survivorId]);
    expect(await lookupsIn360('live', 100, ids)).toEqual(await registryLookups(ids));
    expect(await lookupsIn360('one-batch', 100, ids)).toEqual(await registryLookups(ids));
  }, 120_000);

  it('moves only the identifiers named; the others stay with the survivor', async () => {
    const { survivorId, splitId } = await mergedFamily();
    await unmerge(survivorId, [{ customerId: splitId, identifiers: ['email:Ben.Family@example.com'] }]);
    expect(await platform.registry.lookup(BEN as never)).toBe(splitId);
    expect(await platform.registry.lookup(BEN_CRM as never)).toBe(survivorId);
  });

  it('does not merge them again: a later event naming both is recorded on the survivor with a conflict marker, listed for review', async () => {
    const { survivorId, splitId } = await mergedFamily();
    await unmerge(survivorId, [{ customerId: splitId }]);
    const [both] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [BEN, ANA] } })]);
    expect(both.customerId).toBe(survivorId);
    expect(await platform.registry.canonicalId(splitId)).toBe(splitId);
    const stored = (await platform.store.readStream(customerStreamId(survivorId))).find((e) => e.eventId === both.eventId)!;
    expect(stored.metadata).toMatchObject({ identityConflict: [survivorId, splitId] });
    expect(await platform.registry.identityConflicts({ offset: 0, limit: 10 })).toEqual([
      expect.objectContaining({ triggeringEventId: both.eventId, customerIds: [survivorId, splitId] }),
    ]);
  });

  it('refuses bad requests with a specific error and changes nothing', async () => {
    const { survivorId, splitId } = await mergedFamily();
    const [stranger] = await platform.ingestion.ingest([envelope()]);
    const head = await platform.store.headPosition();
    const refusal = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        expect(e).toBeInstanceOf(UnmergeRefusedError);
        return `${(e as UnmergeRefusedError).field}/${(e as UnmergeRefusedError).code}`;
      }
      throw new Error('expected a refusal');
    };
    expect(await refusal(unmerge(survivorId, [{ customerId: splitId }], '  '))).toBe('reason/missing-reason');
    expect(
      await refusal(
        unmergeCustomer(platform, { customerId: survivorId, splits: [{ customerId: splitId }], reason: undefined, requestedBy: ops }),
      ),
    ).toBe('reason/missing-reason');
    expect(await refusal(unmerge(stranger.customerId, [{ customerId: splitId }]))).toBe('split/never-merged');
    expect(await refusal(unmerge(survivorId, [{ customerId: stranger.customerId }]))).toBe('split/never-merged');
    expect(await refusal(unmerge(survivorId, [{ customerId: splitId, identifiers: ['email:ana.family@example.com'] }]))).toBe(
      'identifiers/not-in-merge',
    );
    expect(await refusal(unmerge(survivorId, [{ customerId: splitId, identifiers: ['email:not an email'] }]))).toBe('identifiers/invalid');
    expect(await refusal(unmerge('00000000-0000-4000-8000-000000000000', [{ customerId: splitId }]))).toBe('customerId/unknown-customer');
    expect(await refusal(unmerge('not-a-uuid', [{ customerId: splitId }]))).toBe('customerId/unknown-customer');
    expect(await refusal(unmerge(survivorId, [{ customerId: '00000000-0000-4000-8000-000000000000' }]))).toBe('split/unknown-customer');
    expect(await refusal(unmerge(splitId, [{ customerId: survivorId }]))).toBe('customerId/merged-away');
    expect(await refusal(unmerge(survivorId, []))).toBe('split/invalid');
    // nothing written, nothing moved
    expect(await platform.store.headPosition()).toBe(head);
    expect(await platform.registry.canonicalId(splitId)).toBe(survivorId);

    await unmerge(survivorId, [{ customerId: splitId }]);
    expect(await refusal(unmerge(survivorId, [{ customerId: splitId }]))).toBe('split/already-unmerged');
  });

  it('loses nothing when events are ingested while the unmerge runs', async () => {
    const { survivorId, splitId } = await mergedFamily();
    const who = [ANA, BEN, BEN_CRM, ANA_PHONE];
    const batches = Array.from({ length: 20 }, (_, i) => [envelope({ customer: { identifiers: [who[i % who.length]] } })]);
    const [results] = await Promise.all([
      Promise.all(batches.map((b) => platform.ingestion.ingest(b))),
      unmerge(survivorId, [{ customerId: splitId }]),
    ]);
    const all = await platform.store.readAll();
    for (const [r] of results) expect(all.filter((e) => e.eventId === r.eventId)).toHaveLength(1);
    // every event is on the stream of the customer its identifier resolved to when it was written
    for (const [r] of results) expect([survivorId, splitId]).toContain(r.customerId);
    const [afterwards] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [BEN] } })]);
    expect(afterwards.customerId).toBe(splitId);
  });

  it('the race, pinned: an event resolved to the survivor just before the registry move, appended after the whole unmerge, is resolved again and goes to the split customer', async () => {
    const { survivorId, splitId } = await mergedFamily();
    // a registry that runs the whole unmerge (registry move, customers.unmerged appended) right after
    // the ingestion resolved its event, before it reads the stream heads it appends at
    let unmerged: Promise<unknown> | undefined;
    const racing: IdentityRegistry = Object.create(platform.registry, {
      resolveBatch: {
        value: async (requests: Parameters<IdentityRegistry['resolveBatch']>[0]) => {
          const resolutions = await platform.registry.resolveBatch(requests);
          if (!unmerged) {
            expect(resolutions[0].customerId).toBe(survivorId); // resolved before the move
            await (unmerged = unmerge(survivorId, [{ customerId: splitId }]));
          }
          return resolutions;
        },
      },
    });
    const ingestion = new IngestionService(platform.store, racing, { now: () => TEST_NOW, maxFutureSkewMs: 300_000 });
    const event = envelope({ customer: { identifiers: [BEN_CRM] } });
    const [result] = await ingestion.ingest([event]);
    expect(unmerged).toBeDefined();
    // resolved again after the unmerge: Ben's, on Ben's stream, after the customers.unmerged
    expect(result.customerId).toBe(splitId);
    const stored = (await platform.store.readAll()).find((e) => e.eventId === event.eventId)!;
    expect(stored.streamId).toBe(customerStreamId(splitId));
    const unmergeEvent = (await platform.store.readStream(customerStreamId(survivorId))).find((e) => e.type === 'customers.unmerged')!;
    expect(stored.position).toBeGreaterThan(unmergeEvent.position);
  });

  it('the race, pinned later: the whole unmerge between the generation check and the append makes the append conflict; resolved again, the event is the split customer', async () => {
    const { survivorId, splitId } = await mergedFamily();
    let unmerged: Promise<unknown> | undefined;
    const store: EventStore = Object.create(platform.store, {
      appendMany: {
        value: async (writes: Parameters<EventStore['appendMany']>[0]) => {
          if (!unmerged) {
            expect(writes.map((w) => w.streamId)).toEqual([customerStreamId(survivorId)]); // resolved before the move
            await (unmerged = unmerge(survivorId, [{ customerId: splitId }]));
          }
          return platform.store.appendMany(writes);
        },
      },
    });
    const ingestion = new IngestionService(store, platform.registry, { now: () => TEST_NOW, maxFutureSkewMs: 300_000 });
    const event = envelope({ customer: { identifiers: [BEN_CRM] } });
    const [result] = await ingestion.ingest([event]);
    expect(unmerged).toBeDefined();
    expect(result.customerId).toBe(splitId);
    const stored = (await platform.store.readAll()).filter((e) => e.eventId === event.eventId);
    expect(stored.map((e) => e.streamId)).toEqual([customerStreamId(splitId)]);
  });
});
