import Database from 'better-sqlite3';
import { join } from 'node:path';
import { customerStreamId, deterministicUuid } from '@cem/domain';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { recompute } from '../../../../test/support/customer-360-oracle';
import { startProjector } from '../projector/projector.module';
import { openSqliteReadStore, type ReadStore } from '../store/read-store';
import { customer360 } from '../customer-360';
import type { Customer360Queries } from '../customer-360/customer-360.query';
import { lifecycleStageAt } from './churn-lifecycle';
import { churnRisk } from './index';
import type { ChurnFacts } from './churn-facts';
import type { ChurnRiskQueries, ChurnScoreView } from './churn-risk.query';

const DAY = 86_400_000;

describe('churn-risk read model', () => {
  let loaded: LoadedPlatform;
  const stores: ReadStore[] = [];

  async function project(file: string, batchSize: number, readModels = [churnRisk]): Promise<ReadStore> {
    const store = await openSqliteReadStore(join(loaded.dir, file), { readModels });
    stores.push(store);
    const running = await startProjector({
      store: loaded.platform.store,
      db: store.db,
      readModels,
      batchSize,
      retryDelayMs: 20,
    });
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await running.close();
    return store;
  }
  const queries = (store: ReadStore, now: number) => churnRisk.queries(store.db as never, { now: () => now }) as ChurnRiskQueries;
  const dump = (file: string) => {
    const db = new Database(join(loaded.dir, file), { readonly: true });
    try {
      return JSON.stringify(db.prepare('SELECT * FROM churn_customers ORDER BY customer_id').raw().all());
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 12, persons: 250, eventsPerPerson: [5, 40], lateShare: 0.1 });
  }, 120_000);
  afterAll(async () => {
    for (const s of stores) await s.close();
    await loaded.cleanup();
  });

  it('holds for every customer the facts an independent recomputation of the raw log finds (merges, late events)', async () => {
    const store = await project('a.db', 200);
    const oracle = recompute(await loaded.platform.store.readAll({ after: 0, maxCount: 1_000_000 }));
    const q = queries(store, loaded.history.now);
    let live = 0;
    for (const [id, expected] of oracle.customers) {
      const facts = (await q.facts(id)) as ChurnFacts;
      expect(facts.mergedInto).toBeNull();
      const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
      expect([iso(facts.touches[0]), iso(facts.touches[facts.touches.length - 1])]).toEqual([
        expected.firstSeenAt && new Date(expected.firstSeenAt).toISOString(),
        expected.lastSeenAt && new Date(expected.lastSeenAt).toISOString(),
      ]);
      expect(facts.purchases.length).toBe(expected.purchases);
      expect(facts.complaints.length).toBe(expected.complaints);
      // the oracle counts money in cents
      const net = Object.values(expected.money).reduce((s, m) => s + m.purchased - m.refunded, 0) / 100;
      const ours = facts.purchases.reduce((s, p) => s + p[1], 0) - facts.refunds.reduce((s, p) => s + p[1], 0);
      expect(ours).toBeCloseTo(net, 6);
      if (expected.firstSeenAt) live++;
    }
    for (const [id, survivor] of oracle.mergedInto) expect((await q.facts(id))?.mergedInto).toBe(survivor);
    expect(live).toBeGreaterThan(100);
  }, 90_000);

  it('rebuilds byte-identical at two batch sizes, and every score is the sum of its factors', async () => {
    await project('b97.db', 97);
    await project('b500.db', 500);
    expect(dump('b97.db')).toEqual(dump('b500.db'));
    const q = queries(stores[stores.length - 1], loaded.history.now);
    const scoring = await q.scoreAll(loaded.history.now);
    expect(scoring.customers.length).toBeGreaterThan(100);
    for (const c of scoring.customers.slice(0, 50)) {
      const s = (await q.score(c.customerId, loaded.history.now)) as ChurnScoreView;
      let sum = s.base;
      for (const f of s.factors) sum += f.contribution;
      expect(sum).toBe(s.logOdds);
      expect(s.probability).toBeCloseTo(1 / (1 + Math.exp(-s.logOdds)), 12);
      expect(s.factors.every((f) => f.reason.length > 0)).toBe(true);
      expect(s.model).toEqual({ name: 'churn-risk-prior', version: 0, horizonDays: 90 });
    }
  }, 90_000);

  it('no leakage: events that occur after an as-of instant change nothing at that instant; risk rises with silence', async () => {
    const before = await project('leak-before.db', 300);
    const asOf = loaded.history.now - 200 * DAY;
    const q1 = queries(before, loaded.history.now);
    const earlier = await q1.scoreAll(asOf);
    const sample = earlier.customers.slice(0, 40);
    // the same customers act after asOf: purchases, a complaint, a detractor answer
    const later = new Date(asOf + 30 * DAY).toISOString();
    for (const c of sample) {
      await loaded.platform.store.appendToStream(customerStreamId(c.customerId), [
        {
          eventId: deterministicUuid('leak-test', c.customerId),
          type: 'purchase.completed',
          data: { orderId: `leak-${c.customerId}`, amount: 50, currency: 'EUR' },
          metadata: { schemaVersion: 1, occurredAt: later, customerId: c.customerId, source: 'shop', channel: 'web' },
        },
        {
          eventId: deterministicUuid('leak-test-complaint', c.customerId),
          type: 'complaint.filed',
          data: { category: 'delivery' },
          metadata: { schemaVersion: 1, occurredAt: later, customerId: c.customerId, source: 'crm', channel: 'email' },
        },
      ]);
    }
    const after = await project('leak-after.db', 300);
    const q2 = queries(after, loaded.history.now);
    const again = await q2.scoreAll(asOf);
    expect(again.customers).toEqual(earlier.customers);
    // and they do count at a later instant
    const now = await q2.scoreAll(asOf + 31 * DAY);
    const nowBefore = await q1.scoreAll(asOf + 31 * DAY);
    expect(now.customers).not.toEqual(nowBefore.customers);
    // silence raises the risk: the same customer, later, with no new event
    const s = sample[0].customerId;
    const facts = (await q2.facts(s))!;
    const lastTouch = facts.touches[facts.touches.length - 1];
    const soon = (await q2.score(s, lastTouch + 2 * DAY)) as ChurnScoreView;
    const late = (await q2.score(s, lastTouch + 200 * DAY)) as ChurnScoreView;
    expect(late.probability).toBeGreaterThan(soon.probability);
  }, 120_000);

  it("evaluates each customer's lifecycle stage as the customer 360 does, from the churn facts", async () => {
    const store = await project('with-360.db', 300, [churnRisk, customer360] as never);
    const q = queries(store, loaded.history.now);
    const c360 = customer360.queries(store.db as never, { now: () => loaded.history.now }) as Customer360Queries;
    const ids = (await q.scoreAll(loaded.history.now)).customers.map((c) => c.customerId);
    const seen = new Set<string>();
    // now, and later: every fact is before both instants, and time passing moves stages
    for (const at of [loaded.history.now, loaded.history.now + 75 * DAY]) {
      for (const id of ids) {
        const view = await c360.byId(id, at);
        if (view.kind !== 'found') throw new Error(`${id} not in the customer 360`);
        const stage = lifecycleStageAt((await q.facts(id))!, at);
        expect([id, stage]).toEqual([id, view.view.lifecycleStage]);
        seen.add(stage);
      }
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
  }, 90_000);

  it('a kept scoring brought up to a later position (changed customers re-scored) equals a fresh scoring; list pages walk it in order', async () => {
    const store = await openSqliteReadStore(join(loaded.dir, 'incremental.db'), { readModels: [churnRisk] });
    stores.push(store);
    const running = await startProjector({ store: loaded.platform.store, db: store.db, readModels: [churnRisk], retryDelayMs: 20 });
    try {
      expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
      const asOf = loaded.history.now;
      const q = queries(store, asOf);
      const first = await q.scoreAll(asOf);
      // some customers act (before asOf, so their scores change), one new customer appears
      const changed = first.customers.filter((_, i) => i % 9 === 0);
      const at = new Date(asOf - DAY).toISOString();
      for (const c of changed) {
        await loaded.platform.store.appendToStream(customerStreamId(c.customerId), [
          {
            eventId: deterministicUuid('incremental-test', c.customerId),
            type: 'complaint.filed',
            data: { category: 'billing' },
            metadata: { schemaVersion: 1, occurredAt: at, customerId: c.customerId, source: 'crm', channel: 'email' },
          },
        ]);
      }
      const newcomer = deterministicUuid('incremental-test', 'newcomer');
      await loaded.platform.store.appendToStream(customerStreamId(newcomer), [
        {
          eventId: deterministicUuid('incremental-test', 'newcomer', 'purchase'),
          type: 'purchase.completed',
          data: { orderId: 'incremental-newcomer', amount: 80, currency: 'EUR' },
          metadata: { schemaVersion: 1, occurredAt: at, customerId: newcomer, source: 'shop', channel: 'web' },
        },
      ]);
      expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
      const updated = await q.scoreAll(asOf);
      const fresh = await queries(store, asOf).scoreAll(asOf);
      expect(updated).not.toBe(first);
      expect(updated).toEqual(fresh);
      expect(updated.customers.some((c) => c.customerId === newcomer)).toBe(true);
      expect(updated.customers).not.toEqual(first.customers);

      // every page of a filtered listing, in order, is the plain filter and sort of the scoring
      for (const sort of ['score', 'valueAtRisk'] as const) {
        const key = (c: (typeof fresh.customers)[number]) => (sort === 'score' ? c.probability : c.valueAtRisk);
        const expected = fresh.customers
          .filter((c) => c.netValue >= 0)
          .sort((a, b) => key(b) - key(a) || (a.customerId < b.customerId ? -1 : 1))
          .map((c) => c.customerId);
        const listed: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await q.atRisk({ bands: ['low', 'medium', 'high', 'critical'], minValue: 0, sort, limit: 7, cursor }, asOf);
          listed.push(...page.items.map((c) => c.customerId));
          cursor = page.nextCursor;
        } while (cursor);
        expect(listed).toEqual(expected);
      }
    } finally {
      await running.close();
    }
  }, 120_000);
});
