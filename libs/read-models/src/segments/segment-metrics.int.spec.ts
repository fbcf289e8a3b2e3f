import Database from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { decideSegment, segmentStreamId, type SegmentDefinition } from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import { openPlatform, type Platform } from '@cem/platform';
import { generateHistories } from '../../../../test/support/customer-histories';
import { experienceMetrics, MetricQueryError, type ExperienceMetricsQueries, type MetricSeries } from '../experience-metrics';
import { startProjector } from '../projector/projector.module';
import { SystemEventScheduler } from '../scheduler/scheduled-system-events';
import { openSqliteReadStore } from '../store/read-store';
import { SEGMENTS_JOB, segmentsJob } from './segments.job';
import { SegmentsQueries } from './segments.query';

/*
 * Experience metrics sliced by analyst segments (`segmentId`), against a plain recomputation over
 * the raw log written here, sharing no code with the projection: walking the log in order, each
 * customer's spans in each segment from its segment.entered / segment.left (merges joining the
 * spans of both customers), and each touch-point event counted in the segments whose span holds
 * its occurredAt. The history is ingested in stages with an evaluation after each (so spans start
 * and end in the middle of it), then the late events; one segment is archived at the end.
 */

const DAY = 86_400_000;
const REPEAT_WINDOW_DAYS = 7; // the default (REPEAT_CONTACT_WINDOW_DAYS unset)
const SEGMENTS: Record<string, SegmentDefinition> = {
  'billing-trouble': {
    name: 'Billing contacts in the last 30 days or an open case',
    description: '',
    rule: {
      any: [
        { count: 'contact.handled', where: { reason: 'billing' }, within: 'P30D', op: '>=', value: 1 },
        { fact: 'openCases', op: '>=', value: 1 },
      ],
    },
    consentPurpose: null,
  },
  spenders: {
    name: 'Spent over 200',
    description: '',
    rule: { fact: 'netValue', op: '>', value: 200 },
    consentPurpose: null,
  },
  promoters: {
    name: 'Promoters (archived at the end)',
    description: '',
    rule: { fact: 'npsCategory', op: '=', value: 'promoter' },
    consentPurpose: null,
  },
};

// ------------------------------------------------------------------------------------------------
// the recomputation
// ------------------------------------------------------------------------------------------------

type Span = { from: number; to: number | null };
interface Fact {
  kind: 'nps' | 'contact' | 'purchase' | 'caseOpened' | 'caseResolved';
  at: string;
  segments: string[];
  score?: number;
  cents?: number;
  ms?: number;
  /** contacts: the customer at the end of the log, the reason, the log position, whether a repeat */
  customer?: string;
  reason?: string;
  pos?: number;
  repeat?: boolean;
}

function recompute(log: RecordedEvent[]): Fact[] {
  const pointer = new Map<string, string>();
  const live = (id: string): string => (pointer.has(id) ? live(pointer.get(id)!) : id);
  // customer -> segment -> spans, and the ordinal of the latest change
  const spans = new Map<string, Map<string, { ordinal: number; spans: Span[] }>>();
  const of = (customer: string) => spans.get(customer) ?? spans.set(customer, new Map()).get(customer)!;
  const inAt = (customer: string, at: number): string[] =>
    [...of(customer)]
      .filter(([, s]) => s.spans.some((x) => x.from <= at && (x.to === null || at < x.to)))
      .map(([id]) => id)
      .sort();
  const merge = (survivor: string, mergedIds: string[]) => {
    for (const m of mergedIds) {
      const [from, to] = [live(m), live(survivor)];
      if (from === to) continue;
      for (const [segmentId, s] of of(from)) {
        const into = of(to).get(segmentId);
        if (into) {
          into.spans.push(...s.spans);
          into.ordinal = Math.max(into.ordinal, s.ordinal);
        } else of(to).set(segmentId, s);
      }
      spans.delete(from);
      pointer.set(from, to);
    }
  };
  const facts: Fact[] = [];
  const cases = new Map<string, { type: string; at: string; pos: number; data: any; segments: string[] }[]>();
  for (const e of log) {
    const d = e.data as any;
    const at = (e.metadata as any).occurredAt as string;
    if (e.type === 'customers.merged') merge(d.survivorId, d.mergedIds);
    if (e.type === 'customer.merged-into') merge(d.survivorId, [d.customerId]);
    if (!e.streamId.startsWith('customer-')) continue;
    const owner = live(e.streamId.slice('customer-'.length));
    if (e.type === 'segment.entered' || e.type === 'segment.left') {
      const s = of(owner).get(d.segmentId) ?? of(owner).set(d.segmentId, { ordinal: 0, spans: [] }).get(d.segmentId)!;
      if (d.ordinal <= s.ordinal) continue;
      s.ordinal = d.ordinal;
      const asOf = Date.parse(d.asOf);
      const open = s.spans.filter((x) => x.to === null);
      if (e.type === 'segment.entered' && open.length === 0) s.spans.push({ from: asOf, to: null });
      if (e.type === 'segment.left') for (const x of open) x.to = asOf;
      continue;
    }
    const segments = inAt(owner, Date.parse(at));
    switch (e.type) {
      case 'survey.answered': {
        const nps = (e.metadata as any).schemaVersion === 1 ? (d.survey === 'nps' ? d.score : undefined) : d.nps;
        if (nps !== undefined) facts.push({ kind: 'nps', at, segments, score: nps });
        break;
      }
      case 'contact.handled':
        facts.push({ kind: 'contact', at, segments, customer: owner, reason: d.reason || undefined, pos: e.position });
        break;
      case 'purchase.completed':
        facts.push({ kind: 'purchase', at, segments, cents: Math.round(d.amount * 100) });
        break;
      default:
        if (e.type.startsWith('case.'))
          (cases.get(d.caseId) ?? cases.set(d.caseId, []).get(d.caseId)!).push({ type: e.type, at, pos: e.position, data: d, segments });
    }
  }
  // a case counts in the segments of its earliest event (as they were when that event was read)
  for (const events of cases.values()) {
    const sorted = [...events].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.pos - b.pos));
    const opening = sorted[0];
    facts.push({ kind: 'caseOpened', at: opening.at, segments: opening.segments });
    const status = sorted.filter((e) => ['case.resolved', 'case.reopened', 'case.status-changed', 'case.closed'].includes(e.type)).pop();
    const resolved = sorted.filter((e) => e.type === 'case.resolved').pop();
    if (status && (status.type === 'case.resolved' || status.type === 'case.closed') && resolved)
      facts.push({
        kind: 'caseResolved',
        at: resolved.at,
        segments: opening.segments,
        ms: Date.parse(resolved.at) - Date.parse(opening.at),
      });
  }
  // contacts belong to the customer at the end of the log; repeats per customer and reason in time order
  const threads = new Map<string, Fact[]>();
  for (const f of facts) {
    if (f.kind !== 'contact') continue;
    f.customer = live(f.customer!);
    if (f.reason === undefined) continue;
    const key = `${f.customer} ${f.reason}`;
    (threads.get(key) ?? threads.set(key, []).get(key)!).push(f);
  }
  for (const thread of threads.values()) {
    thread.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.pos! - b.pos!);
    for (let i = 1; i < thread.length; i++)
      thread[i].repeat = Date.parse(thread[i].at) - Date.parse(thread[i - 1].at) <= REPEAT_WINDOW_DAYS * DAY;
  }
  return facts;
}

const monthOf = (iso: string) => `${new Date(iso).toISOString().slice(0, 7)}-01`;

/** The expected figures of a metric per month, over the facts of one segment. */
function expected(facts: Fact[], metric: string, months: string[]): Record<string, number | null>[] {
  return months.map((month): Record<string, number | null> => {
    const f = facts.filter((x) => monthOf(x.at) === month);
    const kind = (k: Fact['kind']) => f.filter((x) => x.kind === k);
    switch (metric) {
      case 'nps': {
        const s = kind('nps').map((x) => x.score!);
        const [p, d] = [s.filter((x) => x >= 9).length, s.filter((x) => x <= 6).length];
        return { promoters: p, detractors: d, responses: s.length, value: s.length === 0 ? null : (100 * (p - d)) / s.length };
      }
      case 'contacts':
        return { value: kind('contact').length };
      case 'contacts-per-customer': {
        const customers = new Set(kind('contact').map((x) => x.customer)).size;
        return { contacts: kind('contact').length, customers };
      }
      case 'repeat-contact-rate': {
        const withReason = kind('contact').filter((x) => x.reason !== undefined);
        return { repeats: withReason.filter((x) => x.repeat).length, contactsWithReason: withReason.length };
      }
      case 'purchases':
        return { value: kind('purchase').length, amount: kind('purchase').reduce((a, x) => a + x.cents!, 0) / 100 };
      case 'cases-opened':
        return { value: kind('caseOpened').length };
      case 'resolution-time': {
        const ms = kind('caseResolved').map((x) => x.ms! / 1000);
        return { count: ms.length, mean: ms.length === 0 ? null : ms.reduce((a, b) => a + b, 0) / ms.length };
      }
      default:
        throw new Error(`no recomputation for ${metric}`);
    }
  });
}

function same(served: Record<string, unknown>, want: Record<string, number | null>, where: string) {
  for (const [key, value] of Object.entries(want)) {
    const got = served[key] as number | null;
    const ok = value === null ? got === null : got !== null && Math.abs(got - value) <= 0.006;
    if (!ok) throw new Error(`${where} ${key}: served ${got}, recomputed ${value}`);
  }
}

const METRICS = ['nps', 'contacts', 'contacts-per-customer', 'repeat-contact-rate', 'purchases', 'cases-opened', 'resolution-time'];
const RANGE = { from: '2025-01-01', to: '2026-07-01' };

// ------------------------------------------------------------------------------------------------

describe('experience metrics sliced by analyst segments (segmentId)', () => {
  let dir: string;
  let platform: Platform;
  let log: RecordedEvent[];
  let facts: Fact[];
  let metrics: ExperienceMetricsQueries;
  let segments: SegmentsQueries;
  let close: () => Promise<void>;
  let months: string[];

  async function project(file: string, now: () => number) {
    const readStore = await openSqliteReadStore(join(dir, file));
    const running = await startProjector({ store: platform.store, db: readStore.db, batchSize: 300, dataDir: dir });
    const caughtUp = async () => expect(await running.projector.whenCaughtUpToHead(120_000)).toBe(true);
    await caughtUp();
    const queries = new SegmentsQueries(readStore.db as never, now);
    const scheduler = new SystemEventScheduler({
      store: platform.store,
      maxEventsPerRun: 100_000,
      catchUpTimeoutMs: 120_000,
      jobs: [segmentsJob({ queries, whenCaughtUp: (p, t) => running.projector.whenCaughtUp(p, t, ['segments']) })],
    });
    return {
      readStore,
      queries,
      metrics: experienceMetrics.queries(readStore.db as Kysely<any>, { now }) as ExperienceMetricsQueries,
      caughtUp,
      evaluate: async (asOf: number) => {
        await scheduler.runNow(SEGMENTS_JOB, asOf);
        await caughtUp();
      },
      async close() {
        await scheduler.stop();
        await running.close();
        await readStore.close();
      },
    };
  }

  const appendDefinition = async (segmentId: string, command: Parameters<typeof decideSegment>[0], version: number) => {
    const events = decideSegment(command, { version, revision: version - 1, archived: false });
    await platform.store.appendToStream(
      segmentStreamId(segmentId),
      events.map((e) => ({ ...e, metadata: { ...e.metadata } })),
      {
        expectedRevision: version === 0 ? 'no_stream' : version - 1,
      },
    );
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cem-segment-metrics-'));
    const history = generateHistories({ seed: 71, persons: 160, eventsPerPerson: [3, 30], lateShare: 0.1 });
    platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }), { now: () => history.now });
    for (const [segmentId, segment] of Object.entries(SEGMENTS))
      await appendDefinition(
        segmentId,
        { kind: 'create', segmentId, segment, changedBy: 'analyst', occurredAt: '2025-01-01T00:00:00.000Z' },
        0,
      );
    const projected = await project('main.db', () => history.now);
    // the on-time events in four stages, an evaluation at the latest instant of each; then the late ones
    const envelopes = history.envelopes;
    const at = (i: number) => Date.parse(envelopes[i].occurredAt as string);
    const lateFrom = envelopes.findIndex((_, i) => i > 0 && at(i) < at(i - 1));
    const onTime = lateFrom > 0 ? lateFrom : envelopes.length;
    let done = 0;
    for (const share of [0.3, 0.5, 0.7, 0.85]) {
      const until = Math.floor(onTime * share);
      for (let i = done; i < until; i += 250) await platform.ingestion.ingest(envelopes.slice(i, Math.min(i + 250, until)));
      done = until;
      await projected.caughtUp();
      await projected.evaluate(at(until - 1) + 60_000);
    }
    for (let i = done; i < envelopes.length; i += 250) await platform.ingestion.ingest(envelopes.slice(i, i + 250));
    await projected.caughtUp();
    await projected.evaluate(history.now);
    // archiving: the members leave (segment.left, reason archived)
    await appendDefinition(
      'promoters',
      { kind: 'archive', segmentId: 'promoters', changedBy: 'analyst', occurredAt: new Date(history.now).toISOString() },
      1,
    );
    await projected.caughtUp();
    await projected.evaluate(history.now + 60_000);
    log = await platform.store.readAll();
    facts = recompute(log);
    metrics = projected.metrics;
    segments = projected.queries;
    close = () => projected.close();
    months = [];
    for (let m = new Date(`${RANGE.from}T00:00:00Z`); m.toISOString().slice(0, 10) < RANGE.to; m.setUTCMonth(m.getUTCMonth() + 1))
      months.push(m.toISOString().slice(0, 10));
  }, 300_000);

  afterAll(async () => {
    await close?.();
    await platform?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has what the checks need: spans that start and end inside the history, merges after entries, events in and out of segments', () => {
    expect(metrics.timeZone).toBe('UTC');
    const changes = log.filter((e) => e.type === 'segment.entered' || e.type === 'segment.left');
    expect(changes.filter((e) => e.type === 'segment.left').length).toBeGreaterThan(10);
    const firstChange = log.indexOf(changes[0]);
    expect(log.slice(firstChange).filter((e) => e.type === 'customers.merged').length).toBeGreaterThan(0);
    for (const id of ['billing-trouble', 'spenders']) {
      expect(facts.filter((f) => f.segments.includes(id)).length).toBeGreaterThan(50);
    }
    // some events count in two segments at once, most in none
    expect(facts.some((f) => f.segments.length > 1)).toBe(true);
    expect(facts.filter((f) => f.segments.length === 0).length).toBeGreaterThan(facts.length / 2);
  });

  it('filter=segmentId:<id>: every checked metric equals the recomputation, month by month', async () => {
    for (const segmentId of ['billing-trouble', 'spenders'])
      for (const metric of METRICS) {
        const served = await metrics.seriesOf({ metric, bucket: 'month', ...RANGE, filter: `segmentId:${segmentId}` }, { segments });
        expect(served.series.map((l) => l.slice)).toEqual(['*']);
        const want = expected(
          facts.filter((f) => f.segments.includes(segmentId)),
          metric,
          months,
        );
        served.series[0].points.forEach((p, i) => same(p, want[i], `${segmentId} ${metric} ${p.bucket}`));
      }
  });

  it('sliceBy=segmentId: one line per active segment with data (overlapping), the archived one left out', async () => {
    const served: MetricSeries = await metrics.seriesOf(
      { metric: 'contacts', bucket: 'month', ...RANGE, sliceBy: 'segmentId' },
      { segments },
    );
    expect(served.series.map((l) => l.slice)).toEqual(['billing-trouble', 'spenders']);
    for (const line of served.series) {
      const want = expected(
        facts.filter((f) => f.segments.includes(line.slice)),
        'contacts',
        months,
      );
      line.points.forEach((p, i) => same(p, want[i], `${line.slice} ${p.bucket}`));
    }
    // the archived segment's history is kept in the rows: without the directory, its line is there
    const all = await metrics.seriesOf({ metric: 'contacts', bucket: 'month', ...RANGE, sliceBy: 'segmentId' });
    expect(all.series.map((l) => l.slice)).toEqual(['billing-trouble', 'promoters', 'spenders']);
    // sliceBy with filters: the listed segments' lines
    const two = await metrics.seriesOf(
      { metric: 'nps', bucket: 'month', ...RANGE, sliceBy: 'segmentId', filter: ['segmentId:spenders', 'segmentId:billing-trouble'] },
      { segments },
    );
    expect(two.series.map((l) => l.slice)).toEqual(['billing-trouble', 'spenders']);
  });

  it('refuses an unknown or archived segment id, and two ids summed into one series, naming the filter', async () => {
    const refusal = async (filter: string | string[]) => {
      const e = await metrics.seriesOf({ metric: 'nps', bucket: 'month', ...RANGE, filter }, { segments }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MetricQueryError);
      return e as MetricQueryError;
    };
    expect(await refusal('segmentId:no-such-segment')).toMatchObject({
      parameter: 'filter',
      reason: expect.stringContaining('is not a segment'),
    });
    expect(await refusal('segmentId:promoters')).toMatchObject({ parameter: 'filter', reason: expect.stringContaining('is archived') });
    expect(await refusal(['segmentId:spenders', 'segmentId:billing-trouble'])).toMatchObject({
      parameter: 'filter',
      reason: expect.stringContaining('one segmentId per series'),
    });
    expect(await refusal(['segmentId:spenders', 'channel:phone'])).toMatchObject({
      parameter: 'filter',
      reason: expect.stringContaining('cannot be combined'),
    });
  });

  it('a rebuild from position 0 writes the same rows (no storm: the segment events are read, not written)', async () => {
    const before = log.length;
    const rebuilt = await project('rebuilt.db', () => Date.now());
    await rebuilt.close();
    expect((await platform.store.readAll()).length).toBe(before);
    const dump = (file: string) => {
      const db = new Database(join(dir, file), { readonly: true });
      try {
        return ['em_totals', 'em_contact_customers', 'em_customers', 'em_cases']
          .map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t} ORDER BY 1`).raw().all()))
          .join('\n');
      } finally {
        db.close();
      }
    };
    expect(dump('rebuilt.db')).toBe(dump('main.db'));
  }, 120_000);
});
