import { randomUUID } from 'node:crypto';
import { EventIdConflictError, StreamNotFoundError, WrongExpectedRevisionError } from '../errors';
import type { EventData, EventStore, RecordedEvent, SubscriptionMessage } from '../port';

export interface ContractFixture {
  store: EventStore;
  /** releases what the factory created; the store is already closed by the suite */
  cleanup?: () => Promise<void>;
}

/**
 * The behaviour every event store adapter must have. Each test writes to fresh stream names and only
 * looks at its own streams in the global log, so the suite also runs against a shared real server.
 */
export function eventStoreContract(name: string, create: () => Promise<ContractFixture>): void {
  describe(`event store contract: ${name}`, () => {
    let fixture: ContractFixture;
    let store: EventStore;
    beforeEach(async () => {
      fixture = await create();
      store = fixture.store;
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup?.();
    });

    const stream = () => `contract-${randomUUID()}`;
    const ev = (type = 'thing.happened', data: unknown = { n: 1 }, metadata: Record<string, unknown> = {}): EventData => ({
      eventId: randomUUID(),
      type,
      data,
      metadata,
    });
    const mine = (events: RecordedEvent[], ...streams: string[]) => events.filter((e) => streams.includes(e.streamId));

    describe('append with expected revision', () => {
      it('creates a stream with no_stream and numbers revisions from 0', async () => {
        const s = stream();
        const r = await store.appendToStream(s, [ev(), ev(), ev()], { expectedRevision: 'no_stream' });
        expect(r.nextExpectedRevision).toBe(2);
        expect(r.events.map((e) => e.revision)).toEqual([0, 1, 2]);
        expect(r.events.every((e) => !e.duplicate)).toBe(true);
        const positions = r.events.map((e) => e.position);
        expect([...positions].sort((a, b) => a - b)).toEqual(positions);
        expect(new Set(positions).size).toBe(3);
      });

      it('records when it stored each event (recordedAt is the store clock, read back as the same instant)', async () => {
        const before = Date.now();
        const s = stream();
        await store.appendToStream(s, [ev()]);
        const [stored] = await store.readStream(s);
        const recorded = Date.parse(stored.recordedAt);
        // a minute of slack either way: a real server's clock is not this process's clock
        expect(recorded).toBeGreaterThan(before - 60_000);
        expect(recorded).toBeLessThan(Date.now() + 60_000);
      });

      it('refuses no_stream when the stream exists', async () => {
        const s = stream();
        await store.appendToStream(s, [ev()]);
        await expect(store.appendToStream(s, [ev()], { expectedRevision: 'no_stream' })).rejects.toMatchObject({
          name: 'WrongExpectedRevisionError',
          streamId: s,
          actual: 0,
        });
      });

      it('refuses stream_exists when the stream does not exist, accepts it when it does', async () => {
        const s = stream();
        await expect(store.appendToStream(s, [ev()], { expectedRevision: 'stream_exists' })).rejects.toBeInstanceOf(
          WrongExpectedRevisionError,
        );
        await store.appendToStream(s, [ev()], { expectedRevision: 'no_stream' });
        const r = await store.appendToStream(s, [ev()], { expectedRevision: 'stream_exists' });
        expect(r.nextExpectedRevision).toBe(1);
      });

      it('accepts the exact revision and refuses a stale one, writing nothing', async () => {
        const s = stream();
        await store.appendToStream(s, [ev(), ev()]);
        await store.appendToStream(s, [ev()], { expectedRevision: 1 });
        const err = await store.appendToStream(s, [ev()], { expectedRevision: 1 }).catch((e) => e);
        expect(err).toBeInstanceOf(WrongExpectedRevisionError);
        expect(err.expected).toBe(1);
        expect(err.actual).toBe(2);
        expect(await store.readStream(s)).toHaveLength(3);
      });

      it('any appends whatever the state', async () => {
        const s = stream();
        await store.appendToStream(s, [ev()], { expectedRevision: 'any' });
        const r = await store.appendToStream(s, [ev()], { expectedRevision: 'any' });
        expect(r.nextExpectedRevision).toBe(1);
      });
    });

    describe('idempotency by eventId', () => {
      it('writes the same event once and answers the retry with the original position', async () => {
        const s = stream();
        const e = ev('thing.happened', { a: 1, b: [1, 2] }, { occurredAt: '2026-01-01T00:00:00Z' });
        const first = await store.appendToStream(s, [e], { expectedRevision: 'no_stream' });
        // a retry that still believes the stream is new: idempotent, not a conflict
        const again = await store.appendToStream(s, [{ ...e, data: { b: [1, 2], a: 1 } }], { expectedRevision: 'no_stream' });
        expect(again.events[0]).toEqual({ ...first.events[0], duplicate: true });
        expect(await store.readStream(s)).toHaveLength(1);
      });

      it('rejects the same eventId with different content', async () => {
        const s = stream();
        const e = ev('thing.happened', { a: 1 });
        await store.appendToStream(s, [e]);
        await expect(store.appendToStream(s, [{ ...e, data: { a: 2 } }])).rejects.toBeInstanceOf(EventIdConflictError);
        await expect(store.appendToStream(stream(), [{ ...e, type: 'other.type' }])).rejects.toBeInstanceOf(EventIdConflictError);
        expect(await store.readStream(s)).toHaveLength(1);
      });

      it('appends only the new events of a partly repeated append', async () => {
        const s = stream();
        const a = ev();
        await store.appendToStream(s, [a]);
        const b = ev();
        const r = await store.appendToStream(s, [a, b], { expectedRevision: 0 });
        expect(r.events.map((e) => [e.revision, e.duplicate])).toEqual([
          [0, true],
          [1, false],
        ]);
        expect((await store.readStream(s)).map((e) => e.eventId)).toEqual([a.eventId, b.eventId]);
      });
    });

    describe('reading a stream', () => {
      it('reads forwards and backwards, from an inclusive revision, with a limit', async () => {
        const s = stream();
        const events = Array.from({ length: 5 }, (_, i) => ev('thing.happened', { i }, { note: `m${i}` }));
        await store.appendToStream(s, events);
        const fwd = await store.readStream(s);
        expect(fwd.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
        expect(fwd[2]).toMatchObject({
          eventId: events[2].eventId,
          streamId: s,
          revision: 2,
          type: 'thing.happened',
          metadata: { note: 'm2' },
        });
        expect(Number.isNaN(Date.parse(fwd[0].recordedAt))).toBe(false);
        expect((await store.readStream(s, { fromRevision: 3 })).map((e) => e.revision)).toEqual([3, 4]);
        expect((await store.readStream(s, { direction: 'backwards' })).map((e) => e.revision)).toEqual([4, 3, 2, 1, 0]);
        expect((await store.readStream(s, { direction: 'backwards', fromRevision: 2, maxCount: 2 })).map((e) => e.revision)).toEqual([
          2, 1,
        ]);
        expect((await store.readStream(s, { maxCount: 2 })).map((e) => e.revision)).toEqual([0, 1]);
      });

      it('reports a missing stream', async () => {
        await expect(store.readStream(stream())).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('reports stream revisions, -1 for missing streams', async () => {
        const [a, b] = [stream(), stream()];
        await store.appendToStream(a, [ev(), ev()]);
        const revs = await store.streamRevisions([a, b]);
        expect(revs.get(a)).toBe(1);
        expect(revs.get(b)).toBe(-1);
      });
    });

    describe('appending to several streams', () => {
      it('writes every stream of the call', async () => {
        const [a, b] = [stream(), stream()];
        const r = await store.appendMany([
          { streamId: a, events: [ev()], expectedRevision: 'no_stream' },
          { streamId: b, events: [ev(), ev()], expectedRevision: 'no_stream' },
        ]);
        expect(r.map((x) => x.nextExpectedRevision)).toEqual([0, 1]);
      });

      it('writes nothing when one stream is refused, if the adapter promises atomicity', async () => {
        if (!store.capabilities.atomicMultiStreamAppend) return expect(store.capabilities.atomicMultiStreamAppend).toBe(false);
        const [a, b] = [stream(), stream()];
        await store.appendToStream(b, [ev()]);
        await expect(
          store.appendMany([
            { streamId: a, events: [ev()], expectedRevision: 'no_stream' },
            { streamId: b, events: [ev()], expectedRevision: 'no_stream' },
          ]),
        ).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(store.readStream(a)).rejects.toBeInstanceOf(StreamNotFoundError);
      });
    });

    describe('the global log', () => {
      it('reads strictly after a position, in order, with a limit', async () => {
        const before = await store.headPosition();
        const [a, b] = [stream(), stream()];
        await store.appendToStream(a, [ev('x', { n: 1 })]);
        await store.appendToStream(b, [ev('x', { n: 2 })]);
        await store.appendToStream(a, [ev('x', { n: 3 })]);
        const all = mine(await store.readAll({ after: before }), a, b);
        expect(all.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3]);
        expect(all.map((e) => [e.streamId, e.revision])).toEqual([
          [a, 0],
          [b, 0],
          [a, 1],
        ]);
        const rest = mine(await store.readAll({ after: all[0].position }), a, b);
        expect(rest.map((e) => e.eventId)).toEqual([all[1].eventId, all[2].eventId]);
        const page = await store.readAll({ after: before, maxCount: 1 });
        expect(page).toHaveLength(1);
        expect(await store.headPosition()).toBeGreaterThanOrEqual(all[2].position);
      });

      it('subscribes from a checkpoint, says when it caught up, then delivers live events', async () => {
        const before = await store.headPosition();
        const s = stream();
        const first = await store.appendToStream(s, [ev('x', { n: 1 }), ev('x', { n: 2 })]);
        const checkpoint = first.events[0].position;
        const sub = store.subscribeToAll({ after: checkpoint, batchSize: 10 });
        const seen: number[] = [];
        let caughtUpAt: number | undefined;
        let liveAppended = false;
        try {
          for await (const msg of sub as AsyncIterable<SubscriptionMessage>) {
            if (msg.type === 'caught-up') {
              caughtUpAt = msg.position;
              if (!liveAppended) {
                liveAppended = true;
                await store.appendToStream(s, [ev('x', { n: 3 })]);
              }
              continue;
            }
            for (const e of mine(msg.events, s)) seen.push((e.data as { n: number }).n);
            if (seen.length >= 2 && liveAppended) break;
            if (seen.includes(3)) break;
          }
        } finally {
          await sub.close();
        }
        expect(seen).toEqual([2, 3]);
        expect(caughtUpAt).toBeGreaterThanOrEqual(first.events[1].position);
        expect(caughtUpAt).toBeGreaterThan(before);
      });

      it('ends a subscription on close', async () => {
        const sub = store.subscribeToAll({ after: await store.headPosition() });
        const iterator = sub[Symbol.asyncIterator]();
        const first = await iterator.next();
        expect(first.value).toMatchObject({ type: 'caught-up' });
        const pending = iterator.next();
        await sub.close();
        expect((await pending).done).toBe(true);
      });
    });
  });
}
