import { randomUUID } from 'node:crypto';
import { CHAIN_STREAM, EsdbEventStore, exportLog, sealedHead } from '@cem/event-store';
import { EsdbDouble } from '../../../test/support/esdb-double';
import { LogSealer } from './log-sealer';

/** Scheduled sealing on EventStoreDB (gRPC double): rounds driven by hand, two sealers racing, failures logged and retried. */
describe('LogSealer (EventStoreDB)', () => {
  let server: EsdbDouble;
  let store: EsdbEventStore;
  beforeEach(async () => {
    server = new EsdbDouble();
    store = EsdbEventStore.connect(await server.start());
  });
  afterEach(async () => {
    await store.close();
    server.stop();
  });

  const appendSome = async (n: number) => {
    for (let i = 0; i < n; i++) await store.appendToStream(`s-${i % 3}`, [{ eventId: randomUUID(), type: 't.happened', data: { i } }]);
  };
  /** a timer the test fires itself: no sleeps, no race with real time */
  const manualTimer = () => {
    const pending: { run: () => void; ms: number; cancelled: boolean }[] = [];
    return {
      pending,
      schedule: (run: () => void, ms: number) => {
        const t = { run, ms, cancelled: false };
        pending.push(t);
        return { cancel: () => (t.cancelled = true) };
      },
    };
  };

  it('each round seals what was appended since the last, to the head an export computes; logs counts only', async () => {
    const timer = manualTimer();
    const lines: unknown[][] = [];
    const sealer = new LogSealer(store, { intervalMs: 60_000, schedule: timer.schedule, log: (...l) => lines.push(l) });
    sealer.start();
    expect(timer.pending.map((t) => t.ms)).toEqual([60_000]);
    await appendSome(7);
    expect(await sealer.sealOnce()).toEqual({ kind: 'sealed', sealed: 7, headSeq: 7 });
    await appendSome(2);
    expect(await sealer.sealOnce()).toEqual({ kind: 'sealed', sealed: 2, headSeq: 9 });
    expect(await sealer.sealOnce()).toEqual({ kind: 'sealed', sealed: 0, headSeq: 9 });
    const exported = await exportLog(store, () => undefined, { storeName: 'esdb', exportedAt: 'x' });
    expect(await sealedHead(store)).toEqual(exported.head);
    expect(lines).toEqual([
      ['info', 'log sealed', { sealed: 7, headSeq: 7, headHash: expect.stringMatching(/^[0-9a-f]{64}$/) }],
      ['info', 'log sealed', { sealed: 2, headSeq: 9, headHash: exported.head.hash }],
    ]);
    // the timer firing runs a round and schedules the next; stop cancels it
    await appendSome(1);
    timer.pending[0].run();
    await sealer.sealOnce(); // joins the round under way
    expect(await sealedHead(store)).toMatchObject({ seq: 10 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(timer.pending).toHaveLength(2);
    await sealer.stop();
    expect(timer.pending[1].cancelled).toBe(true);
  });

  it('two sealers (two API processes) keep one chain: the loser of a round sees a conflict, not an error', async () => {
    const other = EsdbEventStore.connect(server.connectionString);
    try {
      const log = jest.fn();
      const a = new LogSealer(store, { intervalMs: 1000, log });
      const b = new LogSealer(other, { intervalMs: 1000, log });
      await appendSome(2500); // several chain pages: the two rounds overlap
      const outcomes = await Promise.all([a.sealOnce(), b.sealOnce()]);
      const kinds = outcomes.map((o) => o.kind).sort();
      expect(['conflict,sealed', 'sealed,sealed']).toContain(kinds.join(','));
      expect(log.mock.calls.filter(([level]) => level === 'warn')).toEqual([]);
      await a.sealOnce();
      const exported = await exportLog(store, () => undefined, { storeName: 'esdb', exportedAt: 'x' });
      expect(await sealedHead(store)).toEqual(exported.head); // one chain, whole
      const pages = await store.readStream(CHAIN_STREAM);
      expect(pages.map((p) => p.revision)).toEqual(pages.map((_, i) => i));
    } finally {
      await other.close();
    }
  }, 60_000);

  it('a failing round is logged with its reason and the schedule goes on', async () => {
    const timer = manualTimer();
    const log = jest.fn();
    // a store whose every call fails (a server gone): what the sealer does with it is the point here
    const broken = new Proxy({}, { get: () => () => Promise.reject(new Error('UNAVAILABLE: connection refused')) }) as EsdbEventStore;
    const sealer = new LogSealer(broken, { intervalMs: 1000, schedule: timer.schedule, log });
    sealer.start();
    expect(await sealer.sealOnce()).toEqual({ kind: 'failed', reason: 'UNAVAILABLE: connection refused' });
    expect(log).toHaveBeenCalledWith('warn', 'scheduled log seal failed; retried next round', {
      reason: 'UNAVAILABLE: connection refused',
    });
    timer.pending[0].run();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(timer.pending).toHaveLength(2); // the next round is scheduled all the same
    await sealer.stop();
  });
});
