import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { loadConfig } from '@cem/config';
import { openPlatform, unmergeCustomer, type Platform } from '@cem/platform';
import type { RecordedEvent } from '@cem/event-store';
import { envelope, TEST_NOW } from '../../../../test/support/envelopes';
import { readCustomerLog } from '../audit/customer-log';
import { customerAsOfFromLog } from '../as-of/customer-as-of';
import { startProjector, type RunningProjector } from '../projector/projector.module';
import { READ_MODELS } from '../read-models';
import type { ReadStoreLocation } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { verifyReadModels } from '../verify/verify-read-models';

const ANA = { kind: 'email', value: 'ana.refold@example.com' };
const BEN = { kind: 'email', value: 'ben.refold@example.com' };
const BEN_CRM = { kind: 'crm', value: 'CRM-REFOLD-B' };
/** the platform's default repeat-contact window (REPEAT_CONTACT_WINDOW_DAYS) */
const REPEAT_WINDOW_DAYS = 7;
const purchase = (ids: object[], amount: number, at = '2026-11-20T09:15:00Z') =>
  envelope({
    type: 'purchase.completed',
    occurredAt: at,
    customer: { identifiers: ids },
    data: { orderId: `o-${amount}-${at}`, amount, currency: 'EUR' },
  });
const contact = (ids: object[], reason: string, at: string) =>
  envelope({ occurredAt: at, customer: { identifiers: ids }, data: { direction: 'inbound', handleSeconds: 60, resolved: true, reason } });
const survey = (ids: object[], nps: number, at: string) =>
  envelope({ type: 'survey.answered', schemaVersion: 2, occurredAt: at, customer: { identifiers: ids }, data: { nps } });

/**
 * An independent recomputation of both customers after an unmerge, the plain way (no code shared
 * with the kit): who owns each touch point under the documented rule, then counts, money and the
 * latest NPS read off each customer's list.
 */
function recomputeAfterUnmerge(log: RecordedEvent[], s: string, b: string, moved: string[]) {
  const touch = new Set(['contact.handled', 'purchase.completed', 'survey.answered', 'web.visited']);
  const unmerged = log.find((e) => e.type === 'customers.unmerged')!;
  const mergePosition = log.find((e) => e.type === 'customers.merged')!.position;
  const ownerOf = (e: RecordedEvent) => {
    const stream = e.streamId.replace('customer-', '');
    const ids = ((e.metadata as { identifiers?: { kind: string; value: string }[] }).identifiers ?? []).map((i) => `${i.kind}:${i.value}`);
    const between = e.position > mergePosition && e.position < unmerged.position;
    if (stream === s && between && ids.length > 0 && ids.every((k) => moved.includes(k))) return b;
    return stream;
  };
  const out = new Map<string, { eventCount: number; purchases: number; purchased: number; nps: number | null; firstTouch: string }>();
  for (const id of [s, b]) {
    const mine = log.filter((e) => touch.has(e.type) && ownerOf(e) === id);
    const surveys = mine
      .filter((e) => e.type === 'survey.answered')
      .sort((x, y) => Date.parse((x.metadata as any).occurredAt) - Date.parse((y.metadata as any).occurredAt) || x.position - y.position);
    out.set(id, {
      eventCount: mine.length,
      purchases: mine.filter((e) => e.type === 'purchase.completed').length,
      purchased: mine.filter((e) => e.type === 'purchase.completed').reduce((sum, e) => sum + (e.data as { amount: number }).amount, 0),
      nps: surveys.length ? (surveys[surveys.length - 1].data as { nps: number }).nps : null,
      firstTouch: mine.map((e) => new Date((e.metadata as { occurredAt: string }).occurredAt).toISOString()).sort()[0],
    });
  }
  return { out, ownerOf };
}

/**
 * The experience metrics both customers make, the plain way: each customer counted once (two
 * customers), and a contact with a reason is a repeat when the same customer had one with the same
 * reason at most REPEAT_WINDOW_DAYS before it (by occurredAt).
 */
function recomputeMetrics(log: RecordedEvent[], ownerOf: (e: RecordedEvent) => string, ids: string[]) {
  const windowMs = REPEAT_WINDOW_DAYS * 86_400_000;
  let repeats = 0;
  for (const id of ids) {
    const contacts = log
      .filter((e) => e.type === 'contact.handled' && ownerOf(e) === id && (e.data as { reason?: string }).reason)
      .map((e) => ({ at: Date.parse((e.metadata as { occurredAt: string }).occurredAt), reason: (e.data as { reason: string }).reason }))
      .sort((x, y) => x.at - y.at);
    contacts.forEach((c, i) => {
      if (contacts.slice(0, i).some((p) => p.reason === c.reason && c.at - p.at <= windowMs)) repeats++;
    });
  }
  return { customers: ids.length, repeats };
}

export interface UnmergeRefoldTarget {
  /** the live read store of `dataDir` (a fresh database on PostgreSQL) */
  open(dataDir: string): Promise<{ location: ReadStoreLocation; live: ReadStore }>;
  cleanup?(): Promise<void>;
}

/**
 * Unmerge on the read side, on one kind of read store: ingest, merge, more events through the merged
 * identity, then an unmerge while ingestion runs. Every read model refolds both customers as if the
 * merge had not happened (checked against plain recomputations over the raw log), and a rebuild of
 * every read model from position 0 equals the live copy (verifyReadModels).
 */
export function unmergeRefoldSuite(name: string, target: UnmergeRefoldTarget): void {
  describe(`unmerge on the read side: every read model refolds both customers (${name}, encryption on)`, () => {
    let dir: string;
    let platform: Platform;
    let live: ReadStore;
    let location: ReadStoreLocation;
    let running: RunningProjector;
    const keys = { master: randomBytes(32).toString('base64'), index: randomBytes(32).toString('base64') };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'cem-refold-'));
      platform = openPlatform(
        loadConfig({
          DATA_DIR: dir,
          SQLITE_SYNCHRONOUS: 'NORMAL',
          LOG_LEVEL: 'silent',
          PRIVACY_MASTER_KEY: keys.master,
          PRIVACY_INDEX_SECRET: keys.index,
        }),
        { now: () => TEST_NOW },
      );
      ({ location, live } = await target.open(dir));
      running = await startProjector({ store: platform.store, db: live.db, readStore: live, dataDir: dir, batchSize: 7 });
    }, 60_000);
    afterAll(async () => {
      await running?.close();
      await live?.close();
      await platform?.close();
      await target.cleanup?.();
      rmSync(dir, { recursive: true, force: true });
    });

    const row = async (id: string) => {
      const db = live.db as Kysely<any>;
      const r = await db
        .selectFrom('c360_customers')
        .select(['doc', 'merged_into'])
        .where('customer_id', '=', id)
        .executeTakeFirstOrThrow();
      const owners = await db.selectFrom('c360_timeline').select('position').where('customer_id', '=', id).orderBy('position').execute();
      const index = await db
        .selectFrom('c360_identifiers')
        .select(['kind', 'value'])
        .where('customer_id', '=', id)
        .orderBy('kind')
        .orderBy('value')
        .execute();
      const churn = await db.selectFrom('churn_customers').select('facts').where('customer_id', '=', id).executeTakeFirst();
      const docOf = async (table: string) => {
        const found = await db.selectFrom(table).select('doc').where('customer_id', '=', id).executeTakeFirst();
        return found && JSON.parse(found.doc);
      };
      const progress = await db.selectFrom('ms_progress').select('first_touch_at').distinct().where('customer_id', '=', id).execute();
      return {
        milestones: await docOf('ms_customers'),
        progressFirstTouch: progress.map((p) => p.first_touch_at),
        segments: await docOf('sg_customers'),
        doc: JSON.parse(r.doc),
        mergedInto: r.merged_into,
        timeline: owners.map((o) => Number(o.position)),
        index,
        churn: churn && JSON.parse(churn.facts),
      };
    };

    /** the experience metrics' unsliced monthly totals, summed: customers counted and repeat contacts */
    const monthTotals = async () => {
      const rows = await (live.db as Kysely<any>)
        .selectFrom('em_totals')
        .select('totals')
        .where('granularity', '=', 'month')
        .where('dimension', '=', 'all')
        .where('slice', '=', '*')
        .execute();
      const sum = (counter: string) => rows.reduce((n, r) => n + Number(JSON.parse(r.totals).c?.[counter] ?? 0), 0);
      return { customers: sum('customersFirstSeen'), repeats: sum('repeatContacts') };
    };

    it('splits the history by the identifiers each event carried, keeps the merge history, and a rebuild gives the same read models', async () => {
      const ingest = (...events: object[]) => platform.ingestion.ingest(events);
      const [ana] = await ingest(purchase([ANA], 100));
      const [ben] = await ingest(purchase([BEN, BEN_CRM], 30), survey([BEN], 3, '2026-11-20T10:00:00Z'));
      // the same reason from both: a repeat only while they are one customer
      await ingest(contact([ANA], 'billing', '2026-11-20T09:30:00Z'), contact([BEN], 'billing', '2026-11-20T09:45:00Z'));
      await ingest(envelope({ customer: { identifiers: [ANA, BEN] } })); // the merge
      const [s, b] = [ana.customerId, ben.customerId];
      expect(await platform.registry.canonicalId(b)).toBe(s);
      // after the merge, through the merged identity
      await ingest(purchase([BEN_CRM], 50, '2026-11-20T11:00:00Z')); // only Ben's: Ben's after the unmerge
      await ingest(contact([BEN_CRM], 'billing', '2026-11-20T11:30:00Z')); // Ben's: a repeat of Ben's own
      await ingest(survey([ANA], 9, '2026-11-20T12:00:00Z')); // only Ana's
      await ingest(envelope({ type: 'web.visited', customer: { identifiers: [ANA, BEN] }, data: { url: 'https://shop.example.com/' } })); // both: the survivor's
      expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
      expect((await row(s)).doc).toMatchObject({ eventCount: 10, purchases: 3 });
      expect(await monthTotals()).toEqual({ customers: 1, repeats: 2 });
      expect((await row(b)).mergedInto).toBe(s);

      // the unmerge, with events coming in meanwhile through both identities
      const racing = Promise.all(
        [0, 1, 2, 3, 4, 5].map((i) => ingest(purchase([i % 2 ? BEN_CRM : ANA], 1 + i, `2026-11-21T0${i}:00:00Z`))),
      );
      await unmergeCustomer(platform, {
        customerId: s,
        splits: [{ customerId: b }],
        reason: 'CASE-REFOLD',
        requestedBy: { kind: 'named', name: 'ops' },
      });
      const raced = (await racing).flat();
      expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);

      const log = await platform.store.readAll();
      const { out: expected, ownerOf } = recomputeAfterUnmerge(log, s, b, [`${BEN.kind}:${BEN.value}`, `${BEN_CRM.kind}:${BEN_CRM.value}`]);
      for (const id of [s, b]) {
        const { doc } = await row(id);
        const purchased = Number(doc.money.EUR?.purchased ?? 0) / 10_000;
        expect({
          id,
          eventCount: doc.eventCount,
          purchases: doc.purchases,
          purchased,
          nps: doc.scores?.nps?.value ?? doc.nps?.value ?? null,
        }).toEqual({
          id,
          ...expected.get(id)!,
          firstTouch: undefined,
        });
      }
      // nothing lost: every touch point is with one of the two
      expect(expected.get(s)!.eventCount + expected.get(b)!.eventCount).toBe(10 + raced.length);
      expect((await row(b)).mergedInto).toBeNull();

      // the merge history shows both events on both customers
      expect((await row(s)).doc.merges.map((m: { kind: string }) => m.kind)).toEqual(['absorbed', 'unmerged']);
      expect((await row(b)).doc.merges.map((m: { kind: string }) => m.kind)).toEqual(['merged-into', 'unmerged']);
      // the identifier index and the timeline follow: Ben's identifiers and events are Ben's again
      // (the index holds identifiers keyed as the platform keys them: the blind index here)
      const indexed = (id: { kind: string; value: string }) => {
        const key = platform.identifierIndex.keyOf(id as never);
        return { kind: id.kind, value: key.slice(key.indexOf(':') + 1) };
      };
      expect((await row(b)).index).toEqual([indexed(BEN_CRM), indexed(BEN)]);
      expect((await row(s)).index).toEqual([indexed(ANA)]);
      const touchPositions = (id: string) =>
        log
          .filter((e) => ['purchase.completed', 'survey.answered', 'contact.handled', 'web.visited'].includes(e.type) && ownerOf(e) === id)
          .map((e) => e.position);
      for (const id of [s, b]) expect((await row(id)).timeline).toEqual(expect.arrayContaining(touchPositions(id)));
      // the audit trail and the as-of view follow the same rule: each customer's touch points are its own,
      // the split customer's log holds the survivor's events re-attributed to it, and neither holds the other's
      const isTouch = (e: RecordedEvent) => ['purchase.completed', 'survey.answered', 'contact.handled', 'web.visited'].includes(e.type);
      for (const id of [s, b]) {
        const own = await readCustomerLog(platform.store, id);
        if (own.kind !== 'found') throw new Error(`no log for ${id}: ${own.kind}`);
        expect({ id, touches: own.events.filter(isTouch).map((e) => e.position) }).toEqual({ id, touches: touchPositions(id) });
        expect(own.mergedIds).toEqual([]);
        // and both show the merge and its undoing
        expect(own.events.filter((e) => e.type === 'customers.merged' || e.type === 'customers.unmerged').map((e) => e.type)).toEqual([
          'customers.merged',
          'customers.unmerged',
        ]);
        const asOf = await customerAsOfFromLog(platform.store, id, Date.parse('2027-01-01T00:00:00Z'), 'occurred');
        if (asOf.kind !== 'found') throw new Error(`no as-of view for ${id}: ${asOf.kind}`);
        expect({ id, eventCount: asOf.view.eventCount, purchases: asOf.view.purchases }).toEqual({
          id,
          eventCount: expected.get(id)!.eventCount,
          purchases: expected.get(id)!.purchases,
        });
      }
      // churn facts refolded too: Ben's purchases are Ben's
      expect((await row(b)).churn.purchases).toHaveLength(expected.get(b)!.purchases);
      for (const id of [s, b]) {
        const { milestones, progressFirstTouch, segments } = await row(id);
        // milestones: each customer's journey starts at its own first touch point again
        expect(milestones).toMatchObject({ mergedInto: null, firstTouch: { at: expected.get(id)!.firstTouch } });
        expect(progressFirstTouch).toEqual([expected.get(id)!.firstTouch]);
        // segments: the facts its rules read are each customer's own
        expect(segments).toMatchObject({ mergedInto: null, purchases: expected.get(id)!.purchases });
      }
      // experience metrics: two customers again, and only each customer's own repeats
      expect(await monthTotals()).toEqual(recomputeMetrics(log, ownerOf, [s, b]));
      expect((await monthTotals()).repeats).toBe(1);

      // a rebuild of every read model from position 0 equals the live refold (checksums, table by table)
      const verdicts = await verifyReadModels({
        store: platform.store,
        location,
        live,
        readModels: READ_MODELS,
        dataDir: dir,
        batchSize: 5,
      });
      expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
    }, 120_000);
  });
}
