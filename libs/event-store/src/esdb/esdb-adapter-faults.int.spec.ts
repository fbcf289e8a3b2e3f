import { randomUUID } from 'node:crypto';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import type { EventData } from '../port';
import { isTransientStoreError } from '../transient';
import { eventIdStream } from './naming';
import { EsdbEventStore, GUARD_STREAM } from './esdb-event-store';

/**
 * The adapter against the faults of a real EventStoreDB, produced by the gRPC double (each switched
 * on per test). Errors are matched by name so the suite reads the same before and after a change.
 * Double only: every test breaks the server (limits, statuses, deletes, lag), which a test may not do
 * to a shared real server; the server's own side of each fault is checked against a real one in
 * esdb-server-behaviour.int.spec.ts.
 */

const ev = (n: number, pad = 0): EventData => ({
  eventId: randomUUID(),
  type: 'thing.happened',
  data: { n, pad: 'x'.repeat(pad) },
  metadata: { occurredAt: '2026-01-01T00:00:00Z' },
});
const ns = (events: { data: unknown }[]) => events.map((e) => (e.data as { n: number }).n);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('EventStoreDB adapter against the server faults (gRPC double)', () => {
  let server: EsdbDouble;
  let store: EsdbEventStore;
  const logs: string[] = [];

  const open = async (options: ConstructorParameters<typeof EsdbDouble>[0] = {}) => {
    server = new EsdbDouble(options);
    await server.start();
    store = EsdbEventStore.connect(server.connectionString, { log: (m) => logs.push(m) });
  };
  afterEach(async () => {
    await store?.close();
    server?.stop();
    logs.length = 0;
  });

  describe('maximum append size (1 MiB, the server default)', () => {
    it('appends 5,000 events (about 1.6 MB) to one stream in chunks under the limit, in order, each once', async () => {
      await open();
      const s = `big-${randomUUID()}`;
      const events = range(5000).map((i) => ev(i, 250));
      const r = await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
      expect(r.nextExpectedRevision).toBe(4999);
      expect(r.events.map((e) => e.revision)).toEqual(range(5000));
      expect(r.events.every((e) => !e.duplicate)).toBe(true);
      expect(ns(await store.readStream(s))).toEqual(range(5000));
      expect(server.stats.largestAppendBytes).toBeLessThanOrEqual(server.maxAppendSize);
      // a retry of the whole batch is answered from the reservations, nothing written twice
      const again = await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
      expect(again.events.every((e) => e.duplicate)).toBe(true);
      expect(await store.readStream(s)).toHaveLength(5000);
    }, 180_000);

    it('refuses an event larger than the limit before writing anything (no stream, no reservation)', async () => {
      await open();
      const s = `big-${randomUUID()}`;
      const small = ev(1);
      const huge = ev(2, 1024 * 1024);
      const err = await store.appendToStream(s, [small, huge]).catch((e) => e);
      expect(err).toMatchObject({ name: 'EventTooLargeError', eventId: huge.eventId, limit: 1024 * 1024 });
      expect(isTransientStoreError(err)).toBe(false);
      await expect(store.readStream(s)).rejects.toMatchObject({ name: 'StreamNotFoundError' });
      await expect(store.readStream(eventIdStream(small.eventId))).rejects.toMatchObject({ name: 'StreamNotFoundError' });
      // appendMany: the oversized event of the second stream keeps the first stream unwritten too
      const first = `big-${randomUUID()}`;
      await expect(
        store.appendMany([
          { streamId: first, events: [ev(3)] },
          { streamId: s, events: [ev(4, 1024 * 1024)] },
        ]),
      ).rejects.toMatchObject({ name: 'EventTooLargeError' });
      await expect(store.readStream(first)).rejects.toMatchObject({ name: 'StreamNotFoundError' });
    });

    it('takes a smaller limit from the server when it is configured below the default', async () => {
      await open({ maxAppendSize: 64 * 1024 });
      const s = `big-${randomUUID()}`;
      const r = await store.appendToStream(
        s,
        range(600).map((i) => ev(i, 200)),
        { expectedRevision: 'no_stream' },
      );
      expect(r.nextExpectedRevision).toBe(599);
      expect(store.maxAppendSize).toBe(64 * 1024);
      expect(logs.some((l) => l.includes('MaxAppendSize is 65536'))).toBe(true);
      expect(ns(await store.readStream(s))).toEqual(range(600));
    });

    it('a chunked append cut off part-way answers 503-retriable, and the retry completes it once', async () => {
      await open();
      const s = `big-${randomUUID()}`;
      const events = range(1500).map((i) => ev(i, 800));
      // the reservations go through, the first chunk too, then the server is not ready for the second
      let chunks = 0;
      server.faults.notReady = 1;
      server.faults.when = ({ kind, streamName }) => kind === 'append' && streamName === s && ++chunks === 2;
      const err = await store.appendToStream(s, events, { expectedRevision: 'no_stream' }).catch((e) => e);
      server.faults.when = undefined;
      expect(err).toMatchObject({ name: 'StoreUnavailableError' });
      const partial = (await store.readStream(s)).length;
      expect(partial).toBeGreaterThan(0);
      expect(partial).toBeLessThan(1500);
      const retry = await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
      expect(retry.events.filter((e) => e.duplicate)).toHaveLength(partial);
      expect(ns(await store.readStream(s))).toEqual(range(1500));
    }, 180_000);
  });

  describe('BatchAppend and transient statuses', () => {
    it('appends through BatchAppend when the server announces it, through Append when it does not', async () => {
      await open();
      await store.appendToStream(`ba-${randomUUID()}`, [ev(1)]);
      expect(server.stats.batchAppendCalls).toBeGreaterThan(0);
      expect(server.stats.appendCalls).toBe(0);
      await store.close();
      server.stop();
      await open({ batchAppend: false });
      await store.appendToStream(`ba-${randomUUID()}`, [ev(1)]);
      expect(server.stats.appendCalls).toBeGreaterThan(0);
      expect(server.stats.batchAppendCalls).toBe(0);
    });

    it.each([true, false])('maps "server is not ready" to a retriable StoreUnavailableError (BatchAppend: %s)', async (batchAppend) => {
      await open({ batchAppend });
      const s = `nr-${randomUUID()}`;
      const e = ev(1);
      server.faults.notReady = 1;
      const err = await store.appendToStream(s, [e]).catch((x) => x);
      expect(err).toMatchObject({ name: 'StoreUnavailableError' });
      expect(isTransientStoreError(err)).toBe(true);
      const r = await store.appendToStream(s, [e]);
      expect(r.events[0]).toMatchObject({ revision: 0, duplicate: false });
    });

    it.each([true, false])(
      'a write committed and then answered "timed out" is retried into one copy, even with any and a forgotten cache (BatchAppend: %s)',
      async (batchAppend) => {
        await open({ batchAppend });
        const s = `to-${randomUUID()}`;
        await store.appendToStream(s, [ev(0)]);
        const e = ev(1);
        // the event's own append (not its reservation) is written and then answered as timed out
        server.faults.commitThenTimeout = 1;
        server.faults.when = ({ streamName }) => streamName === s;
        const err = await store.appendToStream(s, [e], { expectedRevision: 'any' }).catch((x) => x);
        expect(err).toMatchObject({ name: 'StoreUnavailableError' });
        server.forgetIdempotency(); // a leader change: the server's own dedupe of `any` is gone
        const retry = await store.appendToStream(s, [e], { expectedRevision: 'any' });
        expect(retry.events[0]).toMatchObject({ revision: 1, duplicate: true });
        expect(ns(await store.readStream(s))).toEqual([0, 1]);
      },
    );

    it('maps NotLeader to a retriable error, and the client follows the leader on the next call', async () => {
      await open();
      const s = `nl-${randomUUID()}`;
      const e = ev(1);
      server.faults.notLeader = 1;
      const err = await store.appendToStream(s, [e]).catch((x) => x);
      expect(err).toMatchObject({ name: 'StoreUnavailableError' });
      const r = await untilAvailable(() => store.appendToStream(s, [e]));
      expect(r.events[0].revision).toBe(0);
      expect(await store.readStream(s)).toHaveLength(1);
    });
  });

  describe('reads that decide a write go to the leader', () => {
    it('reports stream revisions and finds retried events as the leader sees them while a follower lags', async () => {
      await open();
      const s = `lag-${randomUUID()}`;
      server.freezeFollower();
      const e = ev(1);
      await store.appendToStream(s, [ev(0), e]);
      expect((await store.streamRevisions([s])).get(s)).toBe(1);
      // a retry while the follower still knows nothing of the first attempt
      const retry = await store.appendToStream(s, [e], { expectedRevision: 'any' });
      expect(retry.events[0]).toMatchObject({ revision: 1, duplicate: true });
      expect(await store.readStream(s)).toHaveLength(2);
      expect(server.stats.leaderReads).toBe(server.stats.reads);
    });
  });

  describe('deleted, tombstoned and truncated streams', () => {
    it('refuses to append to a tombstoned stream with a permanent StoreRefusedError', async () => {
      await open();
      const s = `tomb-${randomUUID()}`;
      await store.appendToStream(s, [ev(1)]);
      await store.client.tombstoneStream(s);
      const err = await store.appendToStream(s, [ev(2)]).catch((x) => x);
      expect(err).toMatchObject({ name: 'StoreRefusedError', reason: 'stream-deleted' });
      expect(isTransientStoreError(err)).toBe(false);
      await expect(store.readStream(s)).rejects.toMatchObject({ name: 'StoreRefusedError', reason: 'stream-deleted' });
    });

    it('does not write an event twice when its reservation stream was deleted by an operator', async () => {
      await open();
      const s = `resv-${randomUUID()}`;
      const e = ev(1);
      await store.appendToStream(s, [e]);
      await store.client.deleteStream(eventIdStream(e.eventId));
      const retry = await store.appendToStream(s, [e], { expectedRevision: 0 });
      expect(retry.events[0]).toMatchObject({ revision: 0, duplicate: true });
      expect(await store.readStream(s)).toHaveLength(1);
      expect(logs.some((l) => l.includes('had been deleted'))).toBe(true);
    });

    it('refuses to append again an event whose stream was truncated, instead of writing it twice', async () => {
      await open();
      const s = `trunc-${randomUUID()}`;
      const e = ev(1);
      // the first attempt is written and reported failed: the reservation names the stream
      await store.appendToStream(s, [ev(0)]);
      server.faults.commitThenTimeout = 1;
      server.faults.when = ({ streamName }) => streamName === s;
      await expect(store.appendToStream(s, [e], { expectedRevision: 'any' })).rejects.toMatchObject({ name: 'StoreUnavailableError' });
      // an operator truncates the stream meanwhile ($maxCount): the event is no longer readable
      await store.client.setStreamMetadata(s, { maxCount: 1 });
      await store.appendToStream(s, [ev(2)]);
      server.forgetIdempotency(); // and the leader changed since: the server's own dedupe of `any` is gone
      const err = await store.appendToStream(s, [e], { expectedRevision: 'any' }).catch((x) => x);
      expect(err).toMatchObject({ name: 'StoreRefusedError', reason: 'stream-truncated' });
      expect(server.log.filter((x) => x.id === e.eventId)).toHaveLength(1);
    });
  });

  describe('boot check', () => {
    it('writes the guard stream at the first boot, passes later boots, and refuses once it was deleted', async () => {
      await open();
      await expect(store.checkServer()).resolves.toBe('ok');
      expect(server.log.filter((e) => e.streamName === GUARD_STREAM)).toHaveLength(1);
      await expect(store.checkServer()).resolves.toBe('ok');
      expect(server.log.filter((e) => e.streamName === GUARD_STREAM)).toHaveLength(1);
      await store.client.deleteStream(GUARD_STREAM); // an operator deleted the cem-internal-* streams
      await expect(store.checkServer()).rejects.toMatchObject({ name: 'StoreRefusedError', reason: 'stream-deleted' });
    });

    it('refuses to start without read rights on $all, or with a tombstoned guard; reports an unreachable server', async () => {
      await open();
      server.faults.denyAllRead = true;
      await expect(store.checkServer()).rejects.toMatchObject({ reason: 'access-denied', message: expect.stringMatching(/read on \$all/) });
      server.faults.denyAllRead = false;
      await store.client.tombstoneStream(GUARD_STREAM);
      await expect(store.checkServer()).rejects.toMatchObject({ reason: 'stream-deleted' });
      server.stop();
      await expect(store.checkServer()).resolves.toBe('unreachable');
    });
  });

  describe('access rights', () => {
    it('answers AccessDenied on $all with a clear permanent error, and a subscription ends with it', async () => {
      await open();
      server.faults.denyAllRead = true;
      const err = await store.readAll().catch((x) => x);
      expect(err).toMatchObject({ name: 'StoreRefusedError', reason: 'access-denied' });
      expect(err.message).toMatch(/read on \$all/);
      await expect(store.headPosition()).rejects.toMatchObject({ reason: 'access-denied' });
      const sub = store.subscribeToAll();
      await expect(sub[Symbol.asyncIterator]().next()).rejects.toMatchObject({ name: 'StoreRefusedError', reason: 'access-denied' });
      await sub.close();
    });
  });
});

async function untilAvailable<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if ((e as Error).name !== 'StoreUnavailableError' || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
