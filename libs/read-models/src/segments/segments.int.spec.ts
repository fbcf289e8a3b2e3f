import { join } from 'node:path';
import { customerStreamId, decideSegment, segmentStreamId, type SegmentDefinition } from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import { recompute, type OracleCustomer } from '../../../../test/support/customer-360-oracle';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { startProjector } from '../projector/projector.module';
import { scheduledEventId, SystemEventScheduler } from '../scheduler/scheduled-system-events';
import { openSqliteReadStore } from '../store/read-store';
import { SEGMENTS_JOB, segmentsJob } from './segments.job';
import { SegmentsQueries } from './segments.query';

/*
 * Live membership against an independent evaluation: each segment's members (and the entered /
 * left events in the log) equal a plain reading of the raw log (the customer-360 oracle's facts,
 * window counts counted here) with merges resolved to the survivor; as time passes (a 30-day
 * window moves), after a consent change, and after a rebuild from position 0 (nothing announced twice).
 */

const DAY = 86_400_000;
const SEGMENTS: Record<string, SegmentDefinition> = {
  'phone-spenders': {
    name: 'Phone customers who spent over 100',
    description: '',
    rule: {
      all: [
        { fact: 'netValue', op: '>', value: 100 },
        { fact: 'channels', op: 'includes', value: 'phone' },
      ],
    },
    consentPurpose: 'marketing-email',
  },
  'billing-trouble': {
    name: 'Billing contacts in the last 30 days or open cases',
    description: '',
    rule: {
      any: [
        { count: 'contact.handled', where: { reason: 'billing' }, within: 'P30D', op: '>=', value: 1 },
        { fact: 'openCases', op: '>=', value: 2 },
      ],
    },
    consentPurpose: null,
  },
  'silent-emailable': {
    name: 'Emailable customers who never gave an NPS of 7 or more',
    description: '',
    rule: { all: [{ fact: 'consent.marketing-email', op: '=', value: true }, { not: { fact: 'nps', op: '>=', value: 7 } }] },
    consentPurpose: null,
  },
};

/** The oracle's answer for each segment: a plain function of the raw log, sharing no code with the projection. */
function expectedMembers(log: RecordedEvent[], asOf: number): Record<string, string[]> {
  const raw = log.filter((e) => !e.type.startsWith('segment.'));
  const { customers, mergedInto } = recompute(raw);
  const billing = new Map<string, number>();
  for (const e of raw) {
    if (e.type !== 'contact.handled' || (e.data as { reason?: string }).reason !== 'billing') continue;
    const at = Date.parse((e.metadata as { occurredAt: string }).occurredAt);
    if (at <= asOf - 30 * DAY || at > asOf) continue;
    const stream = e.streamId.slice('customer-'.length);
    const owner = mergedInto.get(stream) ?? stream;
    billing.set(owner, (billing.get(owner) ?? 0) + 1);
  }
  const net = (c: OracleCustomer) => Object.values(c.money).reduce((s, m) => s + m.purchased - m.refunded, 0) / 100;
  const out: Record<string, string[]> = { 'phone-spenders': [], 'billing-trouble': [], 'silent-emailable': [] };
  for (const c of [...customers.values()].sort((a, b) => (a.customerId < b.customerId ? -1 : 1))) {
    if (mergedInto.has(c.customerId)) continue;
    if (net(c) > 100 && (c.channels.phone ?? 0) > 0) out['phone-spenders'].push(c.customerId);
    if ((billing.get(c.customerId) ?? 0) >= 1 || c.openCases.length >= 2) out['billing-trouble'].push(c.customerId);
    if (c.consents['marketing-email'] === true && !(c.nps !== null && c.nps >= 7)) out['silent-emailable'].push(c.customerId);
  }
  return out;
}

describe('segments: live membership (scheduled evaluation)', () => {
  let loaded: LoadedPlatform;

  async function project(file: string) {
    const readStore = await openSqliteReadStore(join(loaded.dir, file));
    const running = await startProjector({ store: loaded.platform.store, db: readStore.db, batchSize: 300, dataDir: loaded.dir });
    expect(await running.projector.whenCaughtUpToHead(120_000)).toBe(true);
    const queries = new SegmentsQueries(readStore.db as never, () => loaded.history.now);
    const scheduler = new SystemEventScheduler({
      store: loaded.platform.store,
      maxEventsPerRun: 100_000,
      // a loaded machine may take long to project what a run appended: a skipped run would fail the test, not the code
      catchUpTimeoutMs: 120_000,
      jobs: [segmentsJob({ queries, whenCaughtUp: (p, t) => running.projector.whenCaughtUp(p, t, ['segments']) })],
    });
    return {
      queries,
      run: (asOf: number) => scheduler.runNow(SEGMENTS_JOB, asOf),
      caughtUp: async () => expect(await running.projector.whenCaughtUpToHead(120_000)).toBe(true),
      async members() {
        const out: Record<string, string[]> = {};
        for (const id of Object.keys(SEGMENTS)) {
          const segment = (await queries.byId(id))!;
          const ids: string[] = [];
          let cursor: string | undefined;
          do {
            const page = await queries.members(segment, { limit: 37, cursor });
            ids.push(...page.items.map((m) => m.customerId));
            cursor = page.nextCursor;
          } while (cursor);
          out[id] = ids;
        }
        return out;
      },
      async close() {
        await scheduler.stop();
        await running.close();
        await readStore.close();
      },
    };
  }
  const log = () => loaded.platform.store.readAll();
  const segmentEvents = async () => (await log()).filter((e) => e.type === 'segment.entered' || e.type === 'segment.left');

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 17, persons: 220, eventsPerPerson: [3, 30], lateShare: 0.1 });
    for (const [segmentId, segment] of Object.entries(SEGMENTS)) {
      const events = decideSegment(
        { kind: 'create', segmentId, segment, changedBy: 'analyst', occurredAt: '2026-05-01T00:00:00.000Z' },
        { version: 0, revision: -1, archived: false },
      );
      await loaded.platform.store.appendToStream(
        segmentStreamId(segmentId),
        events.map((e) => ({ ...e, metadata: { ...e.metadata } })),
        { expectedRevision: 'no_stream' },
      );
    }
  }, 120_000);
  afterAll(() => loaded?.cleanup());

  it('members equal the oracle now, as time passes, after a consent change, after a merge (membership follows the survivor), and after a rebuild (no storm)', async () => {
    // the generated history thins out towards its end: evaluate from 45 days before its clock, so
    // that the 30-day window holds billing contacts and moves over some of them 20 days later
    const now = loaded.history.now - 45 * DAY;
    const raw = await log();
    expect(raw.filter((e) => e.type === 'customers.merged').length).toBeGreaterThan(0);
    const first = await project('a.db');

    // 1. the first evaluation announces every member once, on the customer's stream, with a deterministic id
    const expected = expectedMembers(raw, now);
    const size = Object.values(expected).reduce((s, m) => s + m.length, 0);
    for (const m of Object.values(expected)) expect(m.length).toBeGreaterThan(3);
    expect(await first.run(now)).toMatchObject({ evaluated: true, due: size, appended: size, duplicates: 0 });
    await first.caughtUp();
    expect(await first.members()).toEqual(expected);
    for (const e of await segmentEvents()) {
      const d = e.data as { segmentId: string; customerId: string; ordinal: number };
      expect(e.streamId).toBe(customerStreamId(d.customerId));
      expect(e.eventId).toBe(scheduledEventId(SEGMENTS_JOB, [d.segmentId, d.customerId, String(d.ordinal), e.type.slice(8)]));
    }
    // consent-aware: the held-back count is the members without marketing-email consent
    const { customers } = recompute(raw);
    const phone = (await first.queries.byId('phone-spenders'))!;
    const heldBack = expected['phone-spenders'].filter((id) => customers.get(id)!.consents['marketing-email'] !== true).length;
    expect(await first.queries.size(phone)).toEqual({ size: expected['phone-spenders'].length, heldBack });
    expect(heldBack).toBeGreaterThan(0);
    const exportable = await first.queries.members(phone, { limit: 1000, consentOnly: true });
    expect(exportable.items.length).toBe(expected['phone-spenders'].length - heldBack);
    const entered = (await segmentEvents()).filter((e) => (e.data as { segmentId: string }).segmentId === 'phone-spenders');
    expect(entered.filter((e) => (e.data as { activated: boolean }).activated).length).toBe(expected['phone-spenders'].length - heldBack);

    // 2. nothing due on a second run at the same instant
    expect(await first.run(now)).toMatchObject({ evaluated: true, due: 0 });

    // 3. time passes: 20 days later the 30-day window has moved; the changes are announced, members equal the oracle
    const later = now + 20 * DAY;
    const expectedLater = expectedMembers(await log(), later);
    expect(expectedLater['billing-trouble']).not.toEqual(expected['billing-trouble']);
    const moved = await first.run(later);
    expect(moved.appended).toBeGreaterThan(0);
    await first.caughtUp();
    expect(await first.members()).toEqual(expectedLater);

    // 4. a consent withdrawn: the customer leaves the consent rule's segment and is held back in the other
    // (customer ids are random UUIDs: pick by facts, never by position in id order)
    const hasEmail = (id: string) => (customers.get(id)?.identifiers.email?.length ?? 0) > 0;
    const member = expectedLater['silent-emailable'].find((id) => expectedLater['phone-spenders'].includes(id) && hasEmail(id))!;
    expect(member).toBeDefined();
    const [kind, values] = Object.entries(customers.get(member)!.identifiers).find(([k]) => k === 'email')!;
    await loaded.platform.ingestion.ingest([
      {
        eventId: '6f1c7f0e-8a53-4d55-9a1e-3b3f1d2c0a01',
        type: 'consent.changed',
        // after every generated event: the customer's latest consent of the purpose
        occurredAt: new Date(loaded.history.now - 1000).toISOString(),
        source: 'consent-manager',
        channel: 'web',
        customer: { identifiers: [{ kind, value: values[0] }] },
        data: { purpose: 'marketing-email', granted: false },
      },
    ]);
    await first.caughtUp();
    const heldBefore = (await first.queries.size(phone)).heldBack;
    const expectedConsent = expectedMembers(await log(), later);
    expect(expectedConsent['silent-emailable']).not.toContain(member);
    expect(await first.run(later)).toMatchObject({ due: 1, appended: 1 });
    await first.caughtUp();
    expect(await first.members()).toEqual(expectedConsent);
    expect(heldBefore).toBe(heldBack + (customers.get(member)!.consents['marketing-email'] === true ? 1 : 0));
    // its segments now: held back (no consent) only where the segment names marketing-email
    const its = Object.keys(expectedConsent)
      .filter((id) => expectedConsent[id].includes(member))
      .sort();
    expect((await first.queries.ofCustomer(member)).map((s) => [s.segmentId, s.consent])).toEqual(
      its.map((id) => [id, SEGMENTS[id].consentPurpose === null]),
    );
    expect(its).toContain('phone-spenders');

    // 5. a merge of a member into a non-member (or the other way): membership follows the survivor
    const beforeMerge = recompute(await log());
    const withEmail = (id: string) => (beforeMerge.customers.get(id)?.identifiers.email?.length ?? 0) > 0;
    const inside = expectedConsent['phone-spenders'].find((id) => id !== member && withEmail(id))!;
    const outside = expectedConsent['billing-trouble'].find((id) => !expectedConsent['phone-spenders'].includes(id) && withEmail(id))!;
    const emailOf = (id: string) => beforeMerge.customers.get(id)!.identifiers.email[0];
    await loaded.platform.ingestion.ingest([
      {
        eventId: '6f1c7f0e-8a53-4d55-9a1e-3b3f1d2c0a02',
        type: 'web.visited',
        occurredAt: new Date(now - 2000).toISOString(),
        source: 'web',
        channel: 'web',
        customer: {
          identifiers: [
            { kind: 'email', value: emailOf(inside) },
            { kind: 'email', value: emailOf(outside) },
          ],
        },
        data: { url: 'https://shop.example.com/account' },
      },
    ]);
    await first.caughtUp();
    const afterMerge = await log();
    const merge = afterMerge.filter((e) => e.type === 'customers.merged').pop()!.data as { survivorId: string; mergedIds: string[] };
    expect([merge.survivorId, ...merge.mergedIds].sort()).toEqual([inside, outside].sort());
    const expectedMerged = expectedMembers(afterMerge, later);
    for (const list of Object.values(expectedMerged)) expect(list).not.toContain(merge.mergedIds[0]);
    await first.run(later);
    await first.caughtUp();
    expect(await first.members()).toEqual(expectedMerged);
    expect(await first.run(later)).toMatchObject({ due: 0 });
    await first.close();

    // 6. a rebuild from position 0 (a new read store) ends with the same members and finds nothing to announce
    const before = (await segmentEvents()).length;
    const rebuilt = await project('b.db');
    expect(await rebuilt.members()).toEqual(expectedMerged);
    expect(await rebuilt.run(later)).toMatchObject({ evaluated: true, due: 0, appended: 0 });
    expect((await segmentEvents()).length).toBe(before);
    // the trend is the running size per day
    const trend = await rebuilt.queries.trend('billing-trouble', 30, later);
    expect(trend[trend.length - 1]).toEqual({
      day: new Date(later).toISOString().slice(0, 10),
      size: expectedMerged['billing-trouble'].length,
    });
    // nobody before the first evaluation; never a negative size (a merge counts from the entries it folds)
    expect(trend.find((t) => t.day === new Date(now - DAY).toISOString().slice(0, 10))!.size).toBe(0);
    expect(trend.every((t) => t.size >= 0)).toBe(true);
    await rebuilt.close();
  }, 240_000);
});
