import { randomUUID } from 'node:crypto';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { StoreUnavailableError } from '../errors';
import type { EventData, RecordedEvent, SubscriptionMessage } from '../port';
import { EsdbEventStore } from './esdb-event-store';

const ev = (n: number): EventData => ({
  eventId: randomUUID(),
  type: 'thing.happened',
  data: { n },
  metadata: { occurredAt: '2026-01-01T00:00:00Z' },
});

describe('EventStoreDB adapter when the server goes away (gRPC double)', () => {
  let server: EsdbDouble;
  let store: EsdbEventStore;
  const logs: string[] = [];

  beforeEach(async () => {
    server = new EsdbDouble({ systemEventEvery: 2 });
    await server.start();
    logs.length = 0;
    store = EsdbEventStore.connect(server.connectionString, { backoff: { initialMs: 20, maxMs: 200 }, log: (m) => logs.push(m) });
  });
  afterEach(async () => {
    if (!server.running) await server.start();
    await store.close();
    server.stop();
  });

  it('answers an append while the server is down with a retriable StoreUnavailableError, and the retry lands once', async () => {
    const s = `fault-${randomUUID()}`;
    await store.appendToStream(s, [ev(1)]);
    server.stop();
    const e = ev(2);
    const err = await store.appendToStream(s, [e], { expectedRevision: 0 }).catch((x) => x);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    await expect(store.readStream(s)).rejects.toBeInstanceOf(StoreUnavailableError);

    await server.start();
    // the client reconnects on the next call; the caller's retry (same eventId) is written exactly once
    const retry = await retryUnavailable(() => store.appendToStream(s, [e], { expectedRevision: 0 }));
    expect(retry.events[0]).toMatchObject({ revision: 1, duplicate: false });
    const again = await store.appendToStream(s, [e], { expectedRevision: 0 });
    expect(again.events[0]).toMatchObject({ revision: 1, duplicate: true });
    expect((await store.readStream(s)).map((x) => (x.data as { n: number }).n)).toEqual([1, 2]);
  });

  it('reconnects a subscription with backoff and resumes after its last event: no loss, no duplicate', async () => {
    const s = `fault-${randomUUID()}`;
    const before = await store.headPosition();
    for (let i = 1; i <= 5; i++) await store.appendToStream(s, [ev(i)]);

    const sub = store.subscribeToAll({ after: before, batchSize: 2 });
    const seen: number[] = [];
    const positions: number[] = [];
    let caughtUp = 0;
    const it = sub[Symbol.asyncIterator]();
    const pull = async (until: (m: SubscriptionMessage) => boolean) => {
      for (;;) {
        const { value, done } = await it.next();
        if (done) throw new Error('subscription ended');
        if (value.type === 'caught-up') caughtUp++;
        else
          for (const e of value.events as RecordedEvent[]) {
            expect(e.streamId.startsWith('$')).toBe(false);
            if (e.streamId !== s) continue;
            seen.push((e.data as { n: number }).n);
            positions.push(e.position);
          }
        if (until(value)) return;
      }
    };
    try {
      await pull((m) => m.type === 'caught-up');
      expect(seen).toEqual([1, 2, 3, 4, 5]);

      // the server dies mid-subscription; events are written while the subscriber is away
      server.stop();
      await new Promise((r) => setTimeout(r, 150));
      await server.start();
      const other = EsdbEventStore.connect(server.connectionString);
      // a writer retries while the server comes back (a fresh channel may still report UNAVAILABLE
      // for its first calls on a loaded machine); what is under test is the subscription's reconnect
      for (let i = 6; i <= 8; i++) await untilAvailable(() => other.appendToStream(s, [ev(i)]));
      server.writeSystemEvent();
      await other.close();

      await pull(() => seen.length >= 8);
      // and live again after the reconnect
      await untilAvailable(() => store.appendToStream(s, [ev(9)]));
      await pull(() => seen.includes(9));
    } finally {
      await sub.close();
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(caughtUp).toBeGreaterThanOrEqual(2); // once per connection
    expect(logs.some((l) => /reconnecting in \d+ ms/.test(l))).toBe(true);
    expect(server.stats.subscriptions).toBeGreaterThanOrEqual(2);
  });

  it('keeps retrying while the server stays down, then resumes', async () => {
    const s = `fault-${randomUUID()}`;
    await store.appendToStream(s, [ev(1)]);
    const head = await store.headPosition();
    const sub = store.subscribeToAll({ after: head });
    const it = sub[Symbol.asyncIterator]();
    try {
      expect((await it.next()).value).toMatchObject({ type: 'caught-up' });
      server.stop();
      await new Promise((r) => setTimeout(r, 600)); // several backoff rounds against a closed port
      await server.start();
      const other = EsdbEventStore.connect(server.connectionString);
      await other.appendToStream(s, [ev(2)]);
      await other.close();
      let got: RecordedEvent[] = [];
      while (got.length === 0) {
        const { value } = await it.next();
        if (value.type === 'events') got = value.events.filter((e: RecordedEvent) => e.streamId === s);
      }
      expect(got.map((e) => (e.data as { n: number }).n)).toEqual([2]);
    } finally {
      await sub.close();
    }
    expect(logs.filter((l) => l.includes('reconnecting')).length).toBeGreaterThanOrEqual(2);
  });
});

async function retryUnavailable<T>(fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Runs `call` until the store is available again (at most ~5 s), as a retrying writer would. */
async function untilAvailable<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof StoreUnavailableError) || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
