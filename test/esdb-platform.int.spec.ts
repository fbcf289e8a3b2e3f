import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { EsdbEventStore, type RecordedEvent } from '@cem/event-store';
import { EsdbIdentityRegistry } from '@cem/identity';
import { openPlatform, type Platform } from '@cem/platform';
import { openReadSide, type Customer360View, type ReadSide } from '@cem/read-models';
import { recompute, type Oracle } from './support/customer-360-oracle';
import { generateHistories } from './support/customer-histories';
import { envelope, TEST_NOW } from './support/envelopes';
import { EsdbDouble } from './support/esdb-double';

/**
 * The whole platform on the EventStoreDB adapter, against the in-process gRPC double: the platform
 * is opened from configuration (EVENT_STORE=esdb), events go in through IngestionService (identity
 * registry on EventStoreDB too), the embedded projector follows `$all` through the adapter's
 * catch-up subscription, and the customer 360 is read back. It must match an independent
 * recomputation from the log, and the same envelopes ingested and projected on the embedded SQLite
 * platform.
 */

const history = generateHistories({ seed: 11, persons: 50, eventsPerPerson: [3, 14], lateShare: 0.1 });
const NOW = Math.max(history.now, TEST_NOW);
const BATCH = 40;

// A merge in plain sight: one customer known by email, another by phone, then an event naming both.
const EMAIL = { kind: 'email', value: 'ann.smith@example.com' };
const PHONE = { kind: 'phone', value: '+31612345678' };
const scenario = [
  envelope({ occurredAt: '2026-11-01T10:00:00Z', customer: { identifiers: [EMAIL] } }),
  envelope({
    occurredAt: '2026-11-02T10:00:00Z',
    type: 'purchase.completed',
    channel: 'web',
    source: 'shop',
    customer: { identifiers: [PHONE] },
    data: { orderId: 'o-1', amount: 120, currency: 'EUR', items: 1 },
  }),
  envelope({
    occurredAt: '2026-11-03T10:00:00Z',
    type: 'survey.answered',
    channel: 'email',
    source: 'qualtrics',
    customer: { identifiers: [EMAIL, PHONE] },
    data: { nps: 9 },
  }),
];
const allEnvelopes = [...scenario, ...history.envelopes];

interface Side {
  dir: string;
  platform: Platform;
  read: ReadSide;
  lastPosition: number;
}

async function openSide(env: Record<string, string>): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-esdb-e2e-'));
  const platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent', ...env }), {
    now: () => NOW,
  });
  const read = await openReadSide({ dataDir: dir, store: platform.store, batchSize: 64, now: () => NOW });
  return { dir, platform, read, lastPosition: 0 };
}

async function ingestAll(side: Side, envelopes: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < envelopes.length; i += BATCH) {
    const results = await side.platform.ingestion.ingest(envelopes.slice(i, i + BATCH));
    expect(results.every((r) => !r.duplicate)).toBe(true);
    side.lastPosition = Math.max(side.lastPosition, ...results.map((r) => r.position));
  }
}

async function closeSide(side: Side | undefined): Promise<void> {
  if (!side) return;
  await side.read.close();
  await side.platform.close();
  rmSync(side.dir, { recursive: true, force: true });
}

async function view(side: Side, identifier: { kind: string; value: string }): Promise<Customer360View> {
  const found = await side.read.queries['customer-360'].byIdentifier(identifier as never);
  if (found.kind !== 'found') throw new Error(`${identifier.kind}:${identifier.value}: ${found.kind}`);
  return found.view;
}

/** The view without what names log positions or generated customer ids (those differ between stores). */
function comparable(v: Customer360View) {
  const { customerId, position, merges, openCases, ...rest } = v;
  void customerId;
  void position;
  return {
    ...rest,
    openCases: [...openCases].sort((a, b) => a.caseId.localeCompare(b.caseId)),
    merges: merges.map((m) =>
      m.kind === 'absorbed'
        ? { kind: m.kind, merged: m.mergedIds.length, identifiers: m.identifiers, at: m.at }
        : { kind: m.kind, at: m.at },
    ),
  };
}

describe('the full platform on EventStoreDB (gRPC double): ingest -> projector -> customer 360', () => {
  let server: EsdbDouble;
  let esdb: Side;
  let embedded: Side;
  let log: RecordedEvent[];
  let oracle: Oracle;

  beforeAll(async () => {
    server = new EsdbDouble();
    const connectionString = await server.start();
    esdb = await openSide({ EVENT_STORE: 'esdb', ESDB_CONNECTION_STRING: connectionString });
    embedded = await openSide({});
    // the projectors run while the events go in: catch-up first, then the live part of the subscription
    await ingestAll(esdb, allEnvelopes);
    await ingestAll(embedded, allEnvelopes);
    expect(await esdb.read.whenCaughtUp(esdb.lastPosition, 30_000)).toBe(true);
    expect(await embedded.read.whenCaughtUp(embedded.lastPosition, 30_000)).toBe(true);
    log = await esdb.platform.store.readAll();
    oracle = recompute(log);
  }, 120_000);

  afterAll(async () => {
    await closeSide(esdb);
    await closeSide(embedded);
    server?.stop();
  });

  it('is wired from configuration onto EventStoreDB alone', () => {
    expect(esdb.platform.store).toBeInstanceOf(EsdbEventStore);
    expect(esdb.platform.registry).toBeInstanceOf(EsdbIdentityRegistry);
    // what the projector followed: the double's `$all` also holds system events and the adapter's
    // internal streams, none of which may reach the read side
    expect(server.log.some((e) => e.streamName.startsWith('$'))).toBe(true);
    expect(server.log.some((e) => e.streamName.startsWith('cem-internal-'))).toBe(true);
    expect(log.every((e) => e.streamId.startsWith('customer-') && !e.type.startsWith('$'))).toBe(true);
    const ingested = new Set(allEnvelopes.map((e) => e.eventId as string));
    const touchpoints = log.filter((e) => ingested.has(e.eventId));
    expect(touchpoints).toHaveLength(allEnvelopes.length);
    expect(log.filter((e) => !ingested.has(e.eventId)).every((e) => e.type.startsWith('customer'))).toBe(true);
  });

  it('merges the two customers of the scenario; the merged-away id points at the survivor', async () => {
    const v = await view(esdb, EMAIL);
    expect(v.identifiers.email).toEqual([EMAIL.value]);
    expect(v.identifiers.phone).toHaveLength(1);
    expect(v.eventCount).toBe(3);
    expect(v.purchases).toBe(1);
    expect(v.scores.nps).toMatchObject({ score: 9, category: 'promoter' });
    const absorbed = v.merges.filter((m) => m.kind === 'absorbed');
    expect(absorbed).toHaveLength(1);
    const mergedId = absorbed[0].kind === 'absorbed' ? absorbed[0].mergedIds[0] : '';
    expect(await esdb.read.queries['customer-360'].byId(mergedId)).toEqual({
      kind: 'merged',
      customerId: mergedId,
      survivorId: v.customerId,
    });
    expect((await view(esdb, PHONE)).customerId).toBe(v.customerId);
  });

  it('every customer and its timeline match an independent recomputation from the log', async () => {
    expect(oracle.mergedInto.size).toBeGreaterThan(3);
    for (const expected of oracle.customers.values()) {
      const found = await esdb.read.queries['customer-360'].byId(expected.customerId);
      if (found.kind !== 'found') throw new Error(`${expected.customerId}: ${found.kind}`);
      const v = found.view;
      expect({ identifiers: v.identifiers, firstSeenAt: v.firstSeenAt, lastSeenAt: v.lastSeenAt, registeredAt: v.registeredAt }).toEqual({
        identifiers: expected.identifiers,
        firstSeenAt: expected.firstSeenAt,
        lastSeenAt: expected.lastSeenAt,
        registeredAt: expected.registeredAt,
      });
      expect([v.eventCount, v.channels, v.types, v.purchases]).toEqual([
        expected.eventCount,
        expected.channels,
        expected.types,
        expected.purchases,
      ]);
      expect([v.scores.nps?.score ?? null, v.scores.csat?.score ?? null, v.scores.ces?.score ?? null]).toEqual([
        expected.nps,
        expected.csat,
        expected.ces,
      ]);
      expect(Object.fromEntries(v.subscriptions.map((s) => [s.subscriptionId, { plan: s.plan, status: s.status }]))).toEqual(
        expected.subscriptions,
      );
      expect(v.merges.flatMap((m) => (m.kind === 'absorbed' ? m.mergedIds : [])).sort()).toEqual(expected.absorbed);
      const positions: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await esdb.read.queries['customer-360'].timeline(expected.customerId, { limit: 25, cursor });
        positions.push(...page.items.map((i) => i.position));
        cursor = page.nextCursor;
      } while (cursor);
      expect(positions).toEqual(expected.timeline);
    }
    for (const [mergedId, survivorId] of oracle.mergedInto) {
      expect(await esdb.read.queries['customer-360'].byId(mergedId)).toEqual({ kind: 'merged', customerId: mergedId, survivorId });
    }
  });

  it('gives the same customer 360 as the embedded SQLite platform for the same envelopes', async () => {
    const embeddedLog = await embedded.platform.store.readAll();
    // the same events (customer ids and the ids derived from them differ), in an order that may differ between streams
    expect(embeddedLog.map((e) => e.type).sort()).toEqual(log.map((e) => e.type).sort());
    const touchpointIds = (l: RecordedEvent[]) =>
      l
        .filter((e) => !e.type.startsWith('customer'))
        .map((e) => e.eventId)
        .sort();
    expect(touchpointIds(embeddedLog)).toEqual(touchpointIds(log));
    const embeddedOracle = recompute(embeddedLog);
    expect(embeddedOracle.customers.size).toBe(oracle.customers.size);
    expect(embeddedOracle.mergedInto.size).toBe(oracle.mergedInto.size);
    for (const [key, owner] of oracle.identifierOwner) {
      const [kind, ...rest] = key.split(':');
      const identifier = { kind, value: rest.join(':') };
      const ours = await view(esdb, identifier);
      expect(ours.customerId).toBe(owner);
      expect(comparable(ours)).toEqual(comparable(await view(embedded, identifier)));
    }
  });

  it('follows live and resumes from its checkpoint after a restart of the read side', async () => {
    const [live] = await esdb.platform.ingestion.ingest([
      envelope({
        occurredAt: '2026-11-04T10:00:00Z',
        type: 'survey.answered',
        channel: 'email',
        source: 'qualtrics',
        customer: { identifiers: [PHONE] },
        data: { nps: 3 },
      }),
    ]);
    expect(await esdb.read.whenCaughtUp(live.position, 10_000)).toBe(true);
    expect((await view(esdb, EMAIL)).scores.nps).toMatchObject({ score: 3, category: 'detractor' });

    // projector stopped; events arrive meanwhile; a new read side resumes from the stored checkpoint
    await esdb.read.close();
    const [later] = await esdb.platform.ingestion.ingest([
      envelope({ occurredAt: '2026-11-05T10:00:00Z', customer: { identifiers: [EMAIL] } }),
    ]);
    esdb.read = await openReadSide({ dataDir: esdb.dir, store: esdb.platform.store, batchSize: 64, now: () => NOW });
    expect(await esdb.read.whenCaughtUp(later.position, 10_000)).toBe(true);
    const v = await view(esdb, EMAIL);
    expect(v.eventCount).toBe(5);
    const timeline: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await esdb.read.queries['customer-360'].timeline(v.customerId, { limit: 25, cursor });
      timeline.push(...page.items.map((i) => i.position));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(timeline).size).toBe(timeline.length);
    expect(timeline).toContain(later.position);
    expect(await esdb.read.lag()).toMatchObject({ events: 0 });
  });
});
