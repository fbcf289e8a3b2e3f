import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform, unmergeCustomer, type Platform } from '@cem/platform';
import type { RecordedEvent } from '@cem/event-store';
import { envelope, TEST_NOW } from '../../../../test/support/envelopes';
import { readCustomerLog } from '../audit/customer-log';
import { startProjector, type RunningProjector } from '../projector/projector.module';
import { READ_MODELS } from '../read-models';
import { openReadStore, READ_MODELS_FILE } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { verifyReadModels } from '../verify/verify-read-models';

const ANA = { kind: 'email', value: 'ana.refold@example.com' };
const BEN = { kind: 'email', value: 'ben.refold@example.com' };
const BEN_CRM = { kind: 'crm', value: 'CRM-REFOLD-B' };
const purchase = (ids: object[], amount: number, at = '2026-11-20T09:15:00Z') =>
  envelope({
    type: 'purchase.completed',
    occurredAt: at,
    customer: { identifiers: ids },
    data: { orderId: `o-${amount}-${at}`, amount, currency: 'EUR' },
  });
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

describe('unmerge on the read side: the kit refolds both customers (embedded store, encryption on)', () => {
  let dir: string;
  let platform: Platform;
  let live: ReadStore;
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
    live = await openReadStore({ kind: 'sqlite', dataDir: dir }, { role: 'writer' });
    running = await startProjector({ store: platform.store, db: live.db, readStore: live, dataDir: dir, batchSize: 7 });
  }, 60_000);
  afterAll(async () => {
    await running?.close();
    await live?.close();
    await platform?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const row = (id: string) => {
    const db = new Database(join(dir, READ_MODELS_FILE), { readonly: true });
    try {
      const r = db.prepare('SELECT doc, merged_into FROM c360_customers WHERE customer_id = ?').get(id) as {
        doc: string;
        merged_into: string | null;
      };
      const owners = db.prepare('SELECT position, customer_id FROM c360_timeline WHERE customer_id IN (?) ORDER BY position').all(id) as {
        position: number;
      }[];
      const index = db.prepare('SELECT kind, value FROM c360_identifiers WHERE customer_id = ? ORDER BY kind, value').all(id);
      const churn = db.prepare('SELECT facts FROM churn_customers WHERE customer_id = ?').get(id) as { facts: string } | undefined;
      const docOf = (table: string) => {
        const found = db.prepare(`SELECT doc FROM ${table} WHERE customer_id = ?`).get(id) as { doc: string } | undefined;
        return found && JSON.parse(found.doc);
      };
      const progress = db.prepare('SELECT DISTINCT first_touch_at FROM ms_progress WHERE customer_id = ?').all(id) as {
        first_touch_at: string;
      }[];
      return {
        milestones: docOf('ms_customers'),
        progressFirstTouch: progress.map((p) => p.first_touch_at),
        segments: docOf('sg_customers'),
        doc: JSON.parse(r.doc),
        mergedInto: r.merged_into,
        timeline: owners.map((o) => o.position),
        index,
        churn: churn && JSON.parse(churn.facts),
      };
    } finally {
      db.close();
    }
  };

  it('splits the history by the identifiers each event carried, keeps the merge history, and a rebuild gives the same read models', async () => {
    const ingest = (...events: object[]) => platform.ingestion.ingest(events);
    const [ana] = await ingest(purchase([ANA], 100));
    const [ben] = await ingest(purchase([BEN, BEN_CRM], 30), survey([BEN], 3, '2026-11-20T10:00:00Z'));
    await ingest(envelope({ customer: { identifiers: [ANA, BEN] } })); // the merge
    const [s, b] = [ana.customerId, ben.customerId];
    expect(await platform.registry.canonicalId(b)).toBe(s);
    // after the merge, through the merged identity
    await ingest(purchase([BEN_CRM], 50, '2026-11-20T11:00:00Z')); // only Ben's: Ben's after the unmerge
    await ingest(survey([ANA], 9, '2026-11-20T12:00:00Z')); // only Ana's
    await ingest(envelope({ type: 'web.visited', customer: { identifiers: [ANA, BEN] }, data: { url: 'https://shop.example.com/' } })); // both: the survivor's
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    expect(row(s).doc).toMatchObject({ eventCount: 7, purchases: 3 });
    expect(row(b).mergedInto).toBe(s);

    // the unmerge, with events coming in meanwhile through both identities
    const racing = Promise.all([0, 1, 2, 3, 4, 5].map((i) => ingest(purchase([i % 2 ? BEN_CRM : ANA], 1 + i, `2026-11-21T0${i}:00:00Z`))));
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
      const { doc } = row(id);
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
    expect(expected.get(s)!.eventCount + expected.get(b)!.eventCount).toBe(7 + raced.length);
    expect(row(b).mergedInto).toBeNull();

    // the merge history shows both events on both customers
    expect(row(s).doc.merges.map((m: { kind: string }) => m.kind)).toEqual(['absorbed', 'unmerged']);
    expect(row(b).doc.merges.map((m: { kind: string }) => m.kind)).toEqual(['merged-into', 'unmerged']);
    // the identifier index and the timeline follow: Ben's identifiers and events are Ben's again
    // (the index holds identifiers keyed as the platform keys them: the blind index here)
    const indexed = (id: { kind: string; value: string }) => {
      const key = platform.identifierIndex.keyOf(id as never);
      return { kind: id.kind, value: key.slice(key.indexOf(':') + 1) };
    };
    expect(row(b).index).toEqual([indexed(BEN_CRM), indexed(BEN)]);
    expect(row(s).index).toEqual([indexed(ANA)]);
    const touchPositions = (id: string) =>
      log
        .filter((e) => ['purchase.completed', 'survey.answered', 'contact.handled', 'web.visited'].includes(e.type) && ownerOf(e) === id)
        .map((e) => e.position);
    for (const id of [s, b]) expect(row(id).timeline).toEqual(expect.arrayContaining(touchPositions(id)));
    // the split customer's own log (audit trail, as-of) is its own again, not a pointer to the survivor
    expect(await readCustomerLog(platform.store, b)).toMatchObject({ kind: 'found', customerId: b });
    // churn facts refolded too: Ben's purchases are Ben's
    expect(row(b).churn.purchases).toHaveLength(expected.get(b)!.purchases);
    for (const id of [s, b]) {
      const { milestones, progressFirstTouch, segments } = row(id);
      // milestones: each customer's journey starts at its own first touch point again
      expect(milestones).toMatchObject({ mergedInto: null, firstTouch: { at: expected.get(id)!.firstTouch } });
      expect(progressFirstTouch).toEqual([expected.get(id)!.firstTouch]);
      // segments: the facts its rules read are each customer's own
      expect(segments).toMatchObject({ mergedInto: null, purchases: expected.get(id)!.purchases });
    }

    // a rebuild of every read model from position 0 equals the live refold (checksums, table by table)
    const verdicts = await verifyReadModels({
      store: platform.store,
      location: { kind: 'sqlite', dataDir: dir },
      live,
      readModels: READ_MODELS,
      dataDir: dir,
      batchSize: 5,
    });
    expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
  }, 120_000);
});
