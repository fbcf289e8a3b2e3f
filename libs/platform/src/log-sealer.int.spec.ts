import { randomUUID } from 'node:crypto';
import { CHAIN_STREAM, EsdbEventStore, exportLog, sealedHead, type EventStore } from '@cem/event-store';
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
      // The overlap is arranged, not hoped for (under load one round could end before the other began):
      // b reads the chain's head before a writes its first page, and b writes its first page only after
      // a's, so b's append meets a revision it did not expect. Both sealers use the real stores.
      let bReadHead!: () => void;
      const bHasReadHead = new Promise<void>((resolve) => (bReadHead = resolve));
      let aWrotePage!: () => void;
      const aHasWrittenPage = new Promise<void>((resolve) => (aWrotePage = resolve));
      const gated = (
        inner: EventStore,
        gate: { beforeChainAppend?: Promise<void>; afterChainAppend?: () => void; onReadAll?: () => void },
      ) =>
        new Proxy(inner, {
          get(target, name) {
            if (name === 'appendToStream')
              return async (...args: Parameters<EventStore['appendToStream']>) => {
                if (args[0] !== CHAIN_STREAM) return target.appendToStream(...args);
                await gate.beforeChainAppend;
                const result = await target.appendToStream(...args);
                gate.afterChainAppend?.();
                return result;
              };
            // sealLog reads the log after it read the chain's head
            if (name === 'readAll')
              return (...args: Parameters<EventStore['readAll']>) => {
                gate.onReadAll?.();
                return target.readAll(...args);
              };
            const value = Reflect.get(target, name, target) as unknown;
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      // several chain pages from few events: each event's append also reserves its id on the server, and
      // the 2,500 this test appended for pages of 1,000 took 30 of its 60 s at load 10
      const pageSize = 25;
      const a = new LogSealer(gated(store, { beforeChainAppend: bHasReadHead, afterChainAppend: aWrotePage }), {
        intervalMs: 1000,
        log,
        pageSize,
      });
      const b = new LogSealer(gated(other, { beforeChainAppend: aHasWrittenPage, onReadAll: bReadHead }), {
        intervalMs: 1000,
        log,
        pageSize,
      });
      await appendSome(70); // pages of 25, 25 and 20 links
      const outcomes = await Promise.all([a.sealOnce(), b.sealOnce()]);
      expect(outcomes).toEqual([{ kind: 'sealed', sealed: 70, headSeq: 70 }, { kind: 'conflict' }]);
      expect(log.mock.calls.filter(([level]) => level === 'warn')).toEqual([]);
      expect(await b.sealOnce()).toEqual({ kind: 'sealed', sealed: 0, headSeq: 70 });
      const exported = await exportLog(store, () => undefined, { storeName: 'esdb', exportedAt: 'x' });
      expect(await sealedHead(store)).toEqual(exported.head); // one chain, whole
      const pages = await store.readStream(CHAIN_STREAM);
      expect(pages.map((p) => p.revision)).toEqual([0, 1, 2]);
    } finally {
      await other.close();
    }
  });

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
