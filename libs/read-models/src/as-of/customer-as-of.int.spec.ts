import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { RecordedEvent } from '@cem/event-store';
import { recompute, type Oracle, type OracleCustomer } from '../../../../test/support/customer-360-oracle';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { startProjector } from '../projector/projector.module';
import { openSqliteReadStore, type ReadStore } from '../store/read-store';
import { fitAndStoreChurnModel } from '../churn-risk/churn-model-log';
import { ChurnRiskQueries } from '../churn-risk/churn-risk.query';
import { Customer360Queries, type Customer360View } from '../customer-360/customer-360.query';
import { customerAsOfFromLog } from './customer-as-of';

/**
 * As-of views over generated histories (merges, late events): at "now" the view folded from one
 * customer's streams equals the live read model's answer; at a past instant it equals an independent
 * recomputation (test/support/customer-360-oracle.ts) of the part of the log that counts then.
 */
describe('customer 360 as of a past instant, from the log', () => {
  let loaded: LoadedPlatform;
  let log: RecordedEvent[];
  let readStore: ReadStore;
  let running: Awaited<ReturnType<typeof startProjector>>;
  let live: Customer360Queries;
  let liveRisk: ChurnRiskQueries;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 23, persons: 120, eventsPerPerson: [3, 30], lateShare: 0.1 }, 40);
    log = await loaded.platform.store.readAll();
    readStore = await openSqliteReadStore(join(loaded.dir, 'read.db'));
    running = await startProjector({ store: loaded.platform.store, db: readStore.db, readStore, batchSize: 500 });
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    live = new Customer360Queries(readStore.db as Kysely<any>, () => loaded.history.now);
    liveRisk = new ChurnRiskQueries(readStore.db as Kysely<any>, () => loaded.history.now);
  }, 120_000);

  afterAll(async () => {
    await running?.close();
    await readStore?.close();
    await loaded?.cleanup();
  });

  const asOf = (id: string, at: number, by: 'occurred' | 'recorded') => customerAsOfFromLog(loaded.platform.store, id, at, by);
  const occurred = (e: RecordedEvent) => Date.parse((e.metadata as { occurredAt: string }).occurredAt);
  const isMerge = (e: RecordedEvent) => e.type === 'customers.merged' || e.type === 'customer.merged-into';

  it('the history is worth testing on: merges, and late events recorded in several ingest calls', () => {
    const oracle = recompute(log);
    expect(oracle.mergedInto.size).toBeGreaterThan(5);
    expect(new Set(log.map((e) => e.recordedAt)).size).toBeGreaterThan(10);
    expect(log.filter((e, i) => i > 0 && occurred(e) < occurred(log[i - 1])).length).toBeGreaterThan(20);
  });

  it('at now, on both bases, equals the live read models (360 and churn risk) for every customer; merged-away ids name the same survivor', async () => {
    const oracle = recompute(log);
    const now = Date.now();
    // occurredAt never passes the platform's clock (history.now), recordedAt never the wall clock
    for (const [by, at] of [
      ['occurred', loaded.history.now],
      ['recorded', now],
    ] as const) {
      let scored = 0;
      for (const id of oracle.customers.keys()) {
        const expected = await live.byId(id, at);
        if (expected.kind !== 'found') throw new Error(`${id}: ${expected.kind}`);
        const risk = (await liveRisk.score(id, at)) ?? null;
        if (risk) scored++;
        expect([id, by, await asOf(id, at, by)]).toEqual([id, by, { kind: 'found', view: expected.view, churnRisk: risk, segments: [] }]);
      }
      expect(scored).toBeGreaterThan(oracle.customers.size / 2);
      for (const [id, survivorId] of oracle.mergedInto)
        expect(await asOf(id, at, by)).toEqual({ kind: 'merged', customerId: id, survivorId });
    }
  });

  /** The facts of an as-of view next to the oracle's recomputation of the same events. */
  const facts = (v: Customer360View) => ({
    identifiers: v.identifiers,
    firstSeenAt: v.firstSeenAt,
    lastSeenAt: v.lastSeenAt,
    eventCount: v.eventCount,
    types: v.types,
    channels: v.channels,
    purchases: v.purchases,
    nps: v.scores.nps?.score ?? null,
    complaints: v.complaints.count,
    openCases: v.openCases.map((c) => c.caseId).sort(),
    absorbed: v.merges.flatMap((m) => (m.kind === 'absorbed' ? m.mergedIds : [])).sort(),
  });
  const oracleFacts = (c: OracleCustomer) => ({
    identifiers: c.identifiers,
    firstSeenAt: c.firstSeenAt,
    lastSeenAt: c.lastSeenAt,
    eventCount: c.eventCount,
    types: c.types,
    channels: c.channels,
    purchases: c.purchases,
    nps: c.nps,
    complaints: c.complaints,
    openCases: c.openCases.map((x) => x.caseId).sort(),
    absorbed: c.absorbed,
  });

  async function expectLike(oracle: Oracle, at: number, by: 'occurred' | 'recorded', counted: (e: RecordedEvent) => boolean) {
    let compared = 0;
    for (const c of oracle.customers.values()) {
      const hasEvents = log.some((e) => counted(e) && !isMerge(e) && [c.customerId, ...c.absorbed].includes(e.streamId.slice(9)));
      const found = await asOf(c.customerId, at, by);
      if (!hasEvents) {
        expect([c.customerId, found.kind]).toEqual([c.customerId, 'not-found']);
        continue;
      }
      if (found.kind !== 'found') throw new Error(`${c.customerId}: ${found.kind}`);
      expect([c.customerId, facts(found.view)]).toEqual([c.customerId, oracleFacts(c)]);
      compared++;
    }
    for (const [id, survivorId] of oracle.mergedInto)
      expect(await asOf(id, at, by)).toEqual({ kind: 'merged', customerId: id, survivorId });
    return compared;
  }

  it('by recorded time at a past instant: exactly what the log held then (merges recorded later not followed)', async () => {
    const cut = log[Math.floor(log.length / 2)].recordedAt;
    const at = Date.parse(cut);
    const known = (e: RecordedEvent) => Date.parse(e.recordedAt) <= at;
    const then = log.filter(known);
    expect(then.length).toBeLessThan(log.length);
    const oracle = recompute(then);
    // some customers merged later were still separate then
    expect([...recompute(log).mergedInto.keys()].filter((id) => !oracle.mergedInto.has(id)).length).toBeGreaterThan(0);
    expect(await expectLike(oracle, at, 'recorded', known)).toBeGreaterThan(20);
  }, 60_000);

  it('by event time at a past instant: every event that occurred by then, late ones included, identity as known now', async () => {
    const sorted = log.map(occurred).sort((a, b) => a - b);
    const at = sorted[Math.floor(sorted.length / 2)];
    const happened = (e: RecordedEvent) => occurred(e) <= at;
    // events that occurred by then but were recorded after later-occurring ones: late arrivals count
    const lateIncluded = log.filter((e, i) => happened(e) && log.slice(0, i).some((x) => !happened(x) && !isMerge(x)));
    expect(lateIncluded.length).toBeGreaterThan(0);
    const oracle = recompute(log.filter((e) => isMerge(e) || happened(e)));
    expect(await expectLike(oracle, at, 'occurred', happened)).toBeGreaterThan(20);
  }, 60_000);

  // last: it appends to the log
  it('scores the churn risk with the model of the instant: on recorded time, a model fitted later does not count', async () => {
    const before = Date.now();
    while (Date.now() <= before + 1) await new Promise((r) => setTimeout(r, 1));
    const fitted = await fitAndStoreChurnModel(loaded.platform.store, { asOf: loaded.history.now, horizonDays: 90 });
    const id = [...recompute(log).customers.keys()][0];
    const version = async (at: number, by: 'occurred' | 'recorded') => {
      const found = await asOf(id, at, by);
      return found.kind === 'found' ? found.churnRisk?.model.version : found.kind;
    };
    expect(await version(before, 'recorded')).toBe(0); // the prior: nothing fitted yet then
    expect(await version(Date.now(), 'recorded')).toBe(fitted.version);
    expect(await version(loaded.history.now, 'occurred')).toBe(fitted.version); // the latest fitted, as the live view
    const head = await loaded.platform.store.headPosition();
    expect(await running.projector.whenCaughtUp(head, 10_000)).toBe(true);
    const found = await asOf(id, loaded.history.now, 'occurred');
    expect(found.kind === 'found' && found.churnRisk).toEqual((await liveRisk.score(id, loaded.history.now)) ?? null);
  }, 60_000);
});
