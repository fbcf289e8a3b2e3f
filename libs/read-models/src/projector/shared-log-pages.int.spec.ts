import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type RecordedEvent, type Subscription } from '@cem/event-store';
import { SharedLogPages } from './shared-log-pages';

/** Takes `pages` messages of events from a subscription (or up to the caught-up signal), positions only. */
async function take(subscription: Subscription, pages: number): Promise<{ positions: number[]; caughtUp?: number }> {
  const positions: number[] = [];
  const iterator = subscription[Symbol.asyncIterator]();
  for (let i = 0; i < pages; i++) {
    const { value } = await iterator.next();
    if (value.type === 'caught-up') return { positions, caughtUp: value.position };
    positions.push(...value.events.map((e: RecordedEvent) => e.position));
  }
  return { positions };
}

describe('SharedLogPages: the log read once for every lane catching up', () => {
  let dir: string;
  let store: SqliteEventStore;
  let reads: number;
  const EVENTS = 95;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-shared-pages-'));
    store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    store.appendManySync(
      Array.from({ length: EVENTS }, (_, i) => ({
        streamId: `s-${i % 7}`,
        events: [{ eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, type: 't', data: { i }, metadata: {} }],
      })),
    );
    reads = 0;
    const readAll = store.readAll.bind(store);
    store.readAll = (options) => {
      reads++;
      return readAll(options);
    };
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const all = Array.from({ length: EVENTS }, (_, i) => i + 1);

  it('hands every subscription every event once, in order, then the caught-up signal and live events: each page read from the store once', async () => {
    const shared = new SharedLogPages(store, 21);
    const subscriptions = Array.from({ length: 6 }, () => shared.subscribeToAll({ after: 0, batchSize: 10 }));
    // lanes take turns of several pages (as they do on the read store's one connection)
    for (const s of subscriptions) expect(await take(s, 11)).toEqual({ positions: all, caughtUp: EVENTS });
    // 10 pages of the log; after its short last page each subscription goes on with the store's own
    expect(reads).toBe(10);
    expect(shared.stats).toEqual({ pagesRead: 10, pagesShared: 50, pagesHeld: 0 });
    store.appendManySync([
      { streamId: 's-live', events: [{ eventId: '00000000-0000-4000-8000-999999999999', type: 't', data: {}, metadata: {} }] },
    ]);
    for (const s of subscriptions) expect(await take(s, 1)).toEqual({ positions: [EVENTS + 1] });
    for (const s of subscriptions) await s.close();
  });

  it('holds at most maxPages: a lane further behind reads a dropped page again, and still gets every event once', async () => {
    const shared = new SharedLogPages(store, 2);
    const [ahead, behind] = [shared.subscribeToAll({ after: 0, batchSize: 10 }), shared.subscribeToAll({ after: 0, batchSize: 10 })];
    expect((await take(ahead, 5)).positions).toEqual(all.slice(0, 50));
    expect(shared.stats.pagesHeld).toBe(2);
    expect((await take(behind, 11)).positions).toEqual(all);
    expect(shared.stats.pagesHeld).toBeLessThanOrEqual(2);
    expect((await take(ahead, 6)).positions).toEqual(all.slice(50));
    await Promise.all([ahead.close(), behind.close()]);
  });

  it('lanes at other checkpoints read their own pages (no page is shared wrongly); one lane alone holds nothing', async () => {
    const shared = new SharedLogPages(store, 21);
    const a = shared.subscribeToAll({ after: 0, batchSize: 10 });
    const b = shared.subscribeToAll({ after: 5, batchSize: 10 });
    expect((await take(a, 2)).positions).toEqual(all.slice(0, 20));
    expect((await take(b, 2)).positions).toEqual(all.slice(5, 25));
    await a.close();
    await b.close();
    const alone = new SharedLogPages(store, 21);
    const c = alone.subscribeToAll({ after: 0, batchSize: 10 });
    expect((await take(c, 3)).positions).toEqual(all.slice(0, 30));
    expect(alone.stats.pagesHeld).toBe(0);
    await c.close();
  });

  it('does not keep a failed read: the lane that retries reads the page again', async () => {
    const shared = new SharedLogPages(store, 21);
    const readAll = store.readAll;
    store.readAll = () => Promise.reject(new Error('disk I/O'));
    const failing = shared.subscribeToAll({ after: 0, batchSize: 10 });
    await expect(take(failing, 1)).rejects.toThrow('disk I/O');
    store.readAll = readAll;
    const retry = shared.subscribeToAll({ after: 0, batchSize: 10 });
    expect((await take(retry, 1)).positions).toEqual(all.slice(0, 10));
    await Promise.all([failing.close(), retry.close()]);
  });
});
