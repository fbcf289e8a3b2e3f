import type { Kysely } from 'kysely';
import type { RecordedEvent } from '@cem/event-store';
import { recompute, type Oracle } from '../../../../test/support/customer-360-oracle';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { customer360 } from '../customer-360';
import { Customer360Queries, type Customer360View } from '../customer-360/customer-360.query';
import { lifecycleStage, npsCategory, valueSegment } from '../customer-360/lifecycle';
import { startProjector } from '../projector/projector.module';
import type { ReadStore } from '../store/read-store';

export interface Customer360Run {
  loaded: LoadedPlatform;
  log: RecordedEvent[];
  /** projects the log into the store `openStore(loaded, name)` with the given batch size, until caught up */
  project(name: string, batchSize: number): Promise<ProjectedStore>;
}

export interface ProjectedStore {
  readStore: ReadStore;
  queries: Customer360Queries;
  running: Awaited<ReturnType<typeof startProjector>>;
  close(): Promise<void>;
}

/**
 * The customer-360 recomputation test, on any read store: generated histories ingested through
 * IngestionService, projected, and every customer, timeline, merge pointer, identifier and lifecycle
 * stage compared with an independent recomputation from the log (test/support/customer-360-oracle.ts).
 * `more` adds the store's own tests to the same run.
 */
export function customer360Recomputation(
  storeName: string,
  openStore: (loaded: LoadedPlatform, name: string) => Promise<ReadStore>,
  more?: (run: () => Customer360Run) => void,
): void {
  describe(`customer 360 projection over generated histories (${storeName})`, () => {
    let loaded: LoadedPlatform;
    let log: RecordedEvent[];
    let oracle: Oracle;
    let main: ProjectedStore;

    const project = async (name: string, batchSize: number): Promise<ProjectedStore> => {
      const readStore = await openStore(loaded, name);
      // the customer 360 alone: what these tests read (every other read model has its own rebuild tests);
      // projecting all six made the batch-size-1 rebuild several times dearer and time out under load
      const running = await startProjector({
        store: loaded.platform.store,
        db: readStore.db,
        readStore,
        batchSize,
        readModels: [customer360],
      });
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
    };

    beforeAll(async () => {
      loaded = await platformWithHistory({ seed: 7, persons: 250, eventsPerPerson: [3, 30], lateShare: 0.1 });
      log = await loaded.platform.store.readAll();
      oracle = recompute(log);
      main = await project('main', 500);
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

    // the store's own tests, before the live event below changes the log
    more?.(() => ({ loaded, log, project }));

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
}
