import type { Kysely } from 'kysely';
import { join } from 'node:path';
import type { RecordedEvent } from '@cem/event-store';
import { recompute, type Oracle } from '../../../../test/support/customer-360-oracle';
import { dumpCustomer360, platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { startProjector } from '../projector/projector.module';
import { writeCheckpoint } from '../projector/checkpoints';
import { openSqliteReadStore } from '../store/read-store';
import { Customer360Queries, type Customer360View } from './customer-360.query';
import { lifecycleStage, npsCategory, valueSegment } from './lifecycle';

/** Projects the platform's log into `file` with the given batch size, until caught up. */
async function project(loaded: LoadedPlatform, file: string, batchSize: number) {
  const readStore = await openSqliteReadStore(join(loaded.dir, file));
  const running = await startProjector({ store: loaded.platform.store, db: readStore.db, batchSize });
  expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
  return {
    readStore,
    queries: new Customer360Queries(readStore.db as Kysely<any>, () => loaded.history.now),
    running,
    async close() {
      await running.close();
      await readStore.close();
    },
  };
}

describe('customer 360 projection over generated histories', () => {
  let loaded: LoadedPlatform;
  let log: RecordedEvent[];
  let oracle: Oracle;
  let main: Awaited<ReturnType<typeof project>>;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 7, persons: 250, eventsPerPerson: [3, 30], lateShare: 0.1 });
    log = await loaded.platform.store.readAll();
    oracle = recompute(log);
    main = await project(loaded, 'main.db', 500);
  }, 120_000);

  afterAll(async () => {
    await main?.close();
    await loaded?.cleanup();
  });

  it('generates merges and late events (the history is worth testing on)', () => {
    expect(oracle.mergedInto.size).toBeGreaterThan(10);
    const lateEvents = log.filter((e, i) => i > 0 && (e.metadata as any).occurredAt < (log[i - 1].metadata as any).occurredAt);
    expect(lateEvents.length).toBeGreaterThan(100);
    expect(loaded.history.envelopes.some((e) => e.type === 'survey.answered' && e.schemaVersion === 1)).toBe(true);
    // registrations take the first ingested event's instant: some customers have touch points before it
    const firstTouch = new Map<string, string>();
    for (const e of log)
      if (e.type !== 'customer.registered') {
        const at = (e.metadata as any).occurredAt as string;
        if (!firstTouch.has(e.streamId) || at < firstTouch.get(e.streamId)!) firstTouch.set(e.streamId, at);
      }
    const registeredLate = log.filter(
      (e) => e.type === 'customer.registered' && (e.metadata as any).occurredAt > (firstTouch.get(e.streamId) ?? '~'),
    );
    expect(registeredLate.length).toBeGreaterThan(0);
  });

  it('every customer and its timeline match an independent recomputation', async () => {
    const now = loaded.history.now;
    for (const expected of oracle.customers.values()) {
      const found = await main.queries.byId(expected.customerId);
      if (found.kind !== 'found') throw new Error(`${expected.customerId}: ${found.kind}`);
      const v: Customer360View = found.view;
      expect({
        id: v.customerId,
        identifiers: v.identifiers,
        firstSeenAt: v.firstSeenAt,
        lastSeenAt: v.lastSeenAt,
        registeredAt: v.registeredAt,
      }).toEqual({
        id: expected.customerId,
        identifiers: expected.identifiers,
        firstSeenAt: expected.firstSeenAt,
        lastSeenAt: expected.lastSeenAt,
        registeredAt: expected.registeredAt,
      });
      if (v.registeredAt !== null && v.firstSeenAt !== null) expect(v.registeredAt <= v.firstSeenAt).toBe(true); // issue 11
      expect([v.eventCount, v.channels, v.types, v.purchases]).toEqual([
        expected.eventCount,
        expected.channels,
        expected.types,
        expected.purchases,
      ]);
      expect(v.lifetimeValue.map((m) => [m.currency, Math.round(m.purchased * 100), Math.round(m.refunded * 100)])).toEqual(
        Object.keys(expected.money)
          .sort()
          .map((cur) => [cur, expected.money[cur].purchased, expected.money[cur].refunded]),
      );
      expect([v.scores.nps?.score ?? null, v.scores.csat?.score ?? null, v.scores.ces?.score ?? null]).toEqual([
        expected.nps,
        expected.csat,
        expected.ces,
      ]);
      expect(v.scores.nps?.category ?? null).toBe(expected.nps === null ? null : npsCategory(expected.nps));
      expect(v.openCases.map((c) => [c.caseId, c.openedAt]).sort()).toEqual(expected.openCases.map((c) => [c.caseId, c.openedAt]).sort());
      expect(Object.fromEntries(v.subscriptions.map((s) => [s.subscriptionId, { plan: s.plan, status: s.status }]))).toEqual(
        expected.subscriptions,
      );
      expect(Object.fromEntries(Object.entries(v.consents).map(([k, c]) => [k, c.granted]))).toEqual(expected.consents);
      expect(v.profile).toEqual(expected.profile);
      expect([v.complaints.count, v.complaints.lastAt]).toEqual([expected.complaints, expected.lastComplaintAt]);
      expect(
        v.merges
          .filter((m) => m.kind === 'absorbed')
          .flatMap((m) => (m.kind === 'absorbed' ? m.mergedIds : []))
          .sort(),
      ).toEqual(expected.absorbed);
      const net = Object.values(expected.money).reduce((s, m) => s + m.purchased - m.refunded, 0) / 100;
      expect(v.valueSegment).toBe(valueSegment(expected.purchases, net));
      const activeSubscriptions = Object.values(expected.subscriptions).filter((s) => s.status === 'active').length;
      expect(v.lifecycleStage).toBe(
        lifecycleStage(
          {
            lastSeenAt: expected.lastSeenAt,
            firstCommercialAt: expected.firstCommercialAt,
            lastWinAt: expected.lastWinAt,
            lastCancelAt: expected.lastCancelAt,
            activeSubscriptions,
            npsCategory: expected.nps === null ? null : npsCategory(expected.nps),
            lastComplaintAt: expected.lastComplaintAt,
          },
          now,
        ),
      );

      const positions: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await main.queries.timeline(expected.customerId, { limit: 7, cursor });
        positions.push(...page.items.map((i) => i.position));
        cursor = page.nextCursor;
      } while (cursor);
      expect(positions).toEqual(expected.timeline);
    }
  });

  it('merged-away ids point at their live survivor, and identifiers find the live customer', async () => {
    for (const [mergedId, survivorId] of oracle.mergedInto) {
      expect(await main.queries.byId(mergedId)).toEqual({ kind: 'merged', customerId: mergedId, survivorId });
    }
    for (const [key, owner] of oracle.identifierOwner) {
      const [kind, ...rest] = key.split(':');
      expect(await main.queries.customerIdOf({ kind: kind as any, value: rest.join(':') })).toBe(owner);
    }
  });

  it('late events never move "last seen" backwards', async () => {
    // the event that arrived last (a late one) happened before the customer's last seen
    const lastIngested = [...log].reverse().find((e) => !e.type.startsWith('customer'))!;
    const ownerId = oracle.identifierOwner.get(
      `${(lastIngested.metadata as any).identifiers[0].kind}:${(lastIngested.metadata as any).identifiers[0].value}`,
    )!;
    const found = await main.queries.byId(ownerId);
    if (found.kind !== 'found') throw new Error('not found');
    expect(found.view.lastSeenAt! >= (lastIngested.metadata as any).occurredAt).toBe(true);
    expect(found.view.lastSeenAt).toBe(oracle.customers.get(ownerId)!.lastSeenAt);
  });

  it('search filters by stage in SQL exactly as the 360 computes it', async () => {
    const now = loaded.history.now;
    for (const at of [now, now - 200 * 86_400_000]) {
      const bySql = new Map<string, string>();
      let cursor: string | undefined;
      do {
        const page = await main.queries.search({ limit: 200, cursor, sort: 'netValue' }, at);
        for (const s of page.items) bySql.set(s.customerId, s.lifecycleStage);
        cursor = page.nextCursor;
      } while (cursor);
      expect(bySql.size).toBe(oracle.customers.size);
      for (const id of bySql.keys()) {
        const found = await main.queries.byId(id, at);
        expect(found.kind === 'found' && found.view.lifecycleStage).toBe(bySql.get(id));
      }
      const churned = await main.queries.search({ lifecycleStage: 'churned', limit: 500 }, at);
      expect(churned.items.map((s) => s.customerId).sort()).toEqual(
        [...bySql]
          .filter(([, s]) => s === 'churned')
          .map(([id]) => id)
          .sort(),
      );
    }
  });

  it('a rebuild from position 0 with other batch sizes gives byte-identical tables', async () => {
    const expected = dumpCustomer360(join(loaded.dir, 'main.db'));
    expect(expected.c360_timeline.split('\n')).toHaveLength(log.length);
    for (const [file, size] of [
      ['rebuild-1.db', 1],
      ['rebuild-97.db', 97],
    ] as const) {
      const again = await project(loaded, file, size);
      await again.close();
      expect(dumpCustomer360(join(loaded.dir, file))).toEqual(expected);
    }
  }, 120_000);

  it('handled twice = handled once: events delivered again after their checkpoint change nothing', async () => {
    const file = 'redelivered.db';
    const first = await project(loaded, file, 300);
    await first.close();
    const before = dumpCustomer360(join(loaded.dir, file));
    // the checkpoint goes back (as if the commit of it had been lost): the next run sees the
    // last 40% of the log a second time
    const store = await openSqliteReadStore(join(loaded.dir, file));
    await writeCheckpoint(store.db, 'customer-360', log[Math.floor(log.length * 0.6)].position, 1);
    await store.close();
    const second = await project(loaded, file, 123);
    await second.close();
    expect(dumpCustomer360(join(loaded.dir, file))).toEqual(before);
  }, 120_000);

  it('follows the log live: an event ingested now is readable once caught up to its position', async () => {
    const email = 'p7-0@example.com';
    const [result] = await loaded.platform.ingestion.ingest([
      {
        eventId: '0b0b0b0b-0000-4000-8000-000000000001',
        type: 'survey.answered',
        occurredAt: new Date(loaded.history.now - 1000).toISOString(),
        source: 'qualtrics',
        channel: 'email',
        customer: { identifiers: [{ kind: 'email', value: email }] },
        data: { nps: 2 },
      },
    ]);
    expect(await main.running.projector.whenCaughtUp(result.position, 10_000)).toBe(true);
    const found = await main.queries.byIdentifier({ kind: 'email', value: email });
    expect(found.kind === 'found' && found.view.scores.nps).toEqual({
      score: 2,
      category: 'detractor',
      at: new Date(loaded.history.now - 1000).toISOString(),
    });
    // a detractor answer puts a buying customer at risk (unless already churned)
    expect(['prospect', 'at_risk', 'churned']).toContain(found.kind === 'found' && found.view.lifecycleStage);
  });
});
