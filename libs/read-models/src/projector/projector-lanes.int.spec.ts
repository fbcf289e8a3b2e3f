import type { Kysely } from 'kysely';
import { join } from 'node:path';
import type { RecordedEvent } from '@cem/event-store';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { typeCounts, typeCountsDelay } from '../../../../test/support/type-counts';
import { customer360 } from '../customer-360';
import type { ReadModel } from '../kit/read-model';
import { openSqliteReadStore, type ReadStore } from '../store/read-store';
import { readCheckpoint, writeCheckpoint } from './checkpoints';
import type { VersionChangePolicy } from './projection-lane';
import { startProjector, type RunningProjector } from './projector.module';

/** The independent recount: events per type over the raw log. */
function recount(log: readonly RecordedEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of log) out[e.type] = (out[e.type] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

describe('projector lanes: read models assembled from a list, each with its own checkpoint', () => {
  let loaded: LoadedPlatform;
  const open: { store: ReadStore; running?: RunningProjector }[] = [];

  async function start(file: string, readModels: readonly ReadModel[], batchSize = 200, onVersionChange?: VersionChangePolicy) {
    const store = await openSqliteReadStore(join(loaded.dir, file), { readModels });
    const running = await startProjector({
      store: loaded.platform.store,
      db: store.db,
      readModels,
      batchSize,
      retryDelayMs: 20,
      holdRecheckMs: 20,
      onVersionChange,
    });
    const handle = { store, running };
    open.push(handle);
    return handle;
  }
  async function stop(h: { store: ReadStore; running?: RunningProjector }) {
    await h.running?.close();
    h.running = undefined;
  }
  const countsOf = (store: ReadStore) =>
    typeCounts()
      .queries(store.db as Kysely<any>, { now: Date.now })
      .all();

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 11, persons: 300, eventsPerPerson: [5, 40], lateShare: 0.1 });
  }, 120_000);
  afterEach(async () => {
    for (const h of open.splice(0)) {
      await stop(h);
      await h.store.close();
    }
    typeCountsDelay.ms = 0;
  });
  afterAll(async () => loaded.cleanup());

  it('a read model added to the list gets its tables migrated and is projected from position 0 (equal to a recount of the log)', async () => {
    const h = await start('added.db', [customer360, typeCounts()]);
    expect(await h.running!.projector.whenCaughtUpToHead(60_000)).toBe(true);
    const log = await loaded.platform.store.readAll({ after: 0, maxCount: 1_000_000 });
    expect(await countsOf(h.store)).toEqual(recount(log));
    expect(await readCheckpoint(h.store.db, 'type-counts')).toEqual({ position: log[log.length - 1].position, version: 1 });
  }, 60_000);

  it('a read model rebuilding from 0 does not hold back another: read-your-writes on the customer 360 answers while it is still behind', async () => {
    const first = await start('lanes.db', [customer360]);
    expect(await first.running!.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await stop(first);

    typeCountsDelay.ms = 300; // ~60 batches of 200 events: the slow lane needs many seconds
    const h = await start('lanes.db', [customer360, typeCounts()]);
    const [written] = await loaded.platform.ingestion.ingest([
      {
        eventId: '0c0c0c0c-0000-4000-8000-000000000001',
        type: 'web.visited',
        occurredAt: new Date(loaded.history.now - 1000).toISOString(),
        source: 'web',
        channel: 'web',
        customer: { identifiers: [{ kind: 'email', value: 'lane-test@example.com' }] },
        data: { url: 'https://example.com/' },
      },
    ]);
    const projector = h.running!.projector;
    expect(await projector.whenCaughtUp(written.position, 10_000, ['customer-360'])).toBe(true);
    expect(projector.positionOf('type-counts')).toBeLessThan(written.position);
    expect(projector.hasCaughtUp).toBe(false);

    typeCountsDelay.ms = 0;
    expect(await projector.whenCaughtUp(written.position, 60_000)).toBe(true);
    const log = await loaded.platform.store.readAll({ after: 0, maxCount: 1_000_000 });
    expect(await countsOf(h.store)).toEqual(recount(log));
  }, 90_000);

  it('rebuild-in-place: a new version of a read model empties its tables and rebuilds it; the same version never projects an event twice', async () => {
    const v1 = await start('versions.db', [customer360, typeCounts(1)]);
    expect(await v1.running!.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await stop(v1);
    const log = await loaded.platform.store.readAll({ after: 0, maxCount: 1_000_000 });
    const expected = recount(log);
    const c360Checkpoint = await readCheckpoint(v1.store.db, 'customer-360');

    // same version again: resumes at its checkpoint, counts unchanged
    const again = await start('versions.db', [customer360, typeCounts(1)]);
    expect(await again.running!.projector.whenCaughtUpToHead(60_000)).toBe(true);
    expect(await countsOf(again.store)).toEqual(expected);
    await stop(again);

    // a row tampered with survives as long as the version is the same; a new version rebuilds it away
    await v1.store.db
      .updateTable('tc_counts' as never)
      .set({ n: 999 } as never)
      .execute();
    const v2 = await start('versions.db', [customer360, typeCounts(2)], 200, 'rebuild-in-place');
    expect(await v2.running!.projector.whenCaughtUpToHead(60_000)).toBe(true);
    expect(await countsOf(v2.store)).toEqual(expected);
    expect((await readCheckpoint(v2.store.db, 'type-counts'))?.version).toBe(2);
    // the customer 360 was not touched by the other read model's rebuild
    expect(await readCheckpoint(v2.store.db, 'customer-360')).toEqual(c360Checkpoint);
  }, 90_000);

  it('hold (the default): a new version leaves the old copy serving as it is, says rebuild-needed, and resumes from a switched copy of its version', async () => {
    const v1 = await start('held.db', [customer360, typeCounts(1)]);
    expect(await v1.running!.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await stop(v1);
    const log = await loaded.platform.store.readAll({ after: 0, maxCount: 1_000_000 });
    const head = log[log.length - 1].position;
    // the old copy, marked so that a rebuild in place would show: it must be served as it is
    await v1.store.db
      .updateTable('tc_counts' as never)
      .set({ n: 999 } as never)
      .execute();
    const marked = await countsOf(v1.store);

    const v2 = await start('held.db', [customer360, typeCounts(2)]);
    const projector = v2.running!.projector;
    for (let i = 0; i < 3_000 && projector.status !== 'held'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(projector.status).toBe('held');
    const [written] = await loaded.platform.ingestion.ingest([
      {
        eventId: '0c0c0c0c-0000-4000-8000-000000000002',
        type: 'web.visited',
        occurredAt: new Date(loaded.history.now - 1000).toISOString(),
        source: 'web',
        channel: 'web',
        customer: { identifiers: [{ kind: 'email', value: 'held-test@example.com' }] },
        data: { url: 'https://example.com/' },
      },
    ]);
    // the other read model is not held back; the held one answers read-your-writes at once (false), not after the timeout
    expect(await projector.whenCaughtUp(written.position, 60_000, ['customer-360'])).toBe(true);
    expect(await projector.whenCaughtUp(written.position, 60_000, ['type-counts'])).toBe(false);
    expect(projector.hasCaughtUp).toBe(true);
    const lane = projector.health.find((h) => h.name === 'type-counts')!;
    expect(lane).toMatchObject({
      status: 'held',
      position: head,
      failures: 0,
      held: { reason: 'rebuild-needed', detail: { liveVersion: 1, codeVersion: 2 } },
    });
    expect(await countsOf(v2.store)).toEqual(marked);
    expect(await readCheckpoint(v2.store.db, 'type-counts')).toEqual({ position: head, version: 1 });
    log.push(...(await loaded.platform.store.readAll({ after: head, maxCount: 1_000_000 })));

    // what a blue/green switch leaves: the rows and checkpoint of a copy of version 2 (here: part of the log)
    const part = log[Math.floor(log.length / 2)].position;
    await v2.store.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('tc_counts' as never).execute();
      for (const [type, n] of Object.entries(recount(log.filter((e) => e.position <= part))))
        await trx
          .insertInto('tc_counts' as never)
          .values({ type, n } as never)
          .execute();
      await writeCheckpoint(trx, 'type-counts', part, 2);
    });
    // the lane finds its version at its next look (every holdRecheckMs) and goes on from the switched copy's checkpoint
    for (let i = 0; i < 3_000 && projector.status === 'held'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await projector.whenCaughtUpToHead(60_000)).toBe(true);
    // the lane reaches the head's position a turn of the event loop before its subscription says caught-up
    for (let i = 0; i < 3_000 && projector.status !== 'live'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(projector.status).toBe('live');
    expect(await countsOf(v2.store)).toEqual(recount(log));
    expect(projector.health.find((h) => h.name === 'type-counts')!.held).toBeUndefined();
  }, 90_000);

  it('two read models may not claim the same migration name', async () => {
    const clash = { ...typeCounts(), name: 'clash', migrations: customer360.migrations } as ReadModel;
    await expect(openSqliteReadStore(join(loaded.dir, 'clash.db'), { readModels: [customer360, clash] })).rejects.toThrow(
      /migration name 0002-customer-360 is already used/,
    );
  });
});
