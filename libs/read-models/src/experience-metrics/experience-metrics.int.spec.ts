import Database from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { join } from 'node:path';
import type { RecordedEvent } from '@cem/event-store';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { startProjector } from '../projector/projector.module';
import { writeCheckpoint } from '../projector/checkpoints';
import { openSqliteReadStore } from '../store/read-store';
import { experienceMetricsReadModel } from '.';
import type { ExperienceMetricsQueries, MetricSeries } from './experience-metrics.query';

/*
 * Every metric against an independent recomputation: a plain function over the raw log written
 * here (its own merge following, case rules, segment thresholds, time-zone bucketing with Intl),
 * sharing no code with the projection. The history has merged customers, late events (10%),
 * repeated case openings, reopened cases, old survey versions; a few events written below sit on a
 * Berlin day boundary and on both daylight-saving changes.
 */

const ZONE = 'Europe/Berlin';
// sms, social and the channels without live contacts have no cost: their contacts are uncosted
const COSTS = { phone: 4.5, chat: 1.2, email: 0.8 };
// a month, not the default week: the generated customers contact every few weeks
const REPEAT_WINDOW_DAYS = 30;
const model = experienceMetricsReadModel(ZONE, { contactCosts: COSTS, repeatContactWindowDays: REPEAT_WINDOW_DAYS });
const FROM = '2025-01-01';
const TO = '2026-07-01';

// ------------------------------------------------------------------------------------------------
// the recomputation
// ------------------------------------------------------------------------------------------------

const berlinDate = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' });
const localDay = (iso: string): string => berlinDate.format(new Date(iso));
function bucketOf(iso: string, gran: string): string {
  const day = localDay(iso);
  if (gran === 'day') return day;
  if (gran === 'month') return `${day.slice(0, 8)}01`;
  const d = new Date(`${day}T00:00:00Z`);
  return new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * 86_400_000).toISOString().slice(0, 10);
}
function segmentOf(purchases: number, netCents: number): string {
  const net = netCents / 100;
  if (purchases === 0) return 'none';
  return net >= 5000 ? 'strategic' : net >= 1000 ? 'high' : net >= 250 ? 'medium' : 'low';
}

type Slices = Record<'channel' | 'source' | 'segment' | 'agent' | 'category', string>;
type Fact =
  | { kind: 'nps' | 'csat' | 'ces'; at: string; slices: Slices; score: number }
  | {
      kind: 'contact';
      at: string;
      slices: Slices;
      handle: number;
      wait?: number;
      customer: string;
      /** the customer the event's stream resolved to when it was written (before later merges) */
      customerThen: string;
      pos: number;
      reason?: string;
      repeat?: boolean;
      /** how the repeat came about: its previous contact was another id then, or came later in the log */
      repeatOf?: { otherIdThen: boolean; laterInLog: boolean };
    }
  | { kind: 'purchase' | 'refund'; at: string; slices: Slices; cents: number }
  | { kind: 'cancel' | 'complaint'; at: string; slices: Slices }
  | { kind: 'caseOpened'; at: string; slices: Slices; reopened: boolean; escalated: boolean }
  | { kind: 'caseFinished'; at: string; slices: Slices }
  | { kind: 'caseResolved'; at: string; slices: Slices; ms: number; fcr?: boolean };

interface CaseEvent {
  type: string;
  at: string;
  pos: number;
  data: any;
  channel: string;
  source: string;
  segment: string;
  agent: string | null;
}

interface Recomputed {
  facts: Fact[];
  /** per customer as known at the end of the log (merged ids as one), the instant of its earliest event */
  firstSeen: string[];
}

function recompute(log: RecordedEvent[]): Recomputed {
  const facts: Fact[] = [];
  const earliest = new Map<string, string>();
  const pointer = new Map<string, string>();
  const money = new Map<string, { purchases: number; cents: number }>();
  const cases = new Map<string, CaseEvent[]>();
  const live = (id: string): string => (pointer.has(id) ? live(pointer.get(id)!) : id);
  const wallet = (id: string) => money.get(id) ?? money.set(id, { purchases: 0, cents: 0 }).get(id)!;
  const merge = (survivor: string, mergedIds: string[]) => {
    for (const m of mergedIds) {
      const [from, to] = [live(m), live(survivor)];
      if (from === to) continue;
      wallet(to).purchases += wallet(from).purchases;
      wallet(to).cents += wallet(from).cents;
      pointer.set(from, to);
    }
  };
  for (const e of log) {
    const d = e.data as any;
    const meta = e.metadata as any;
    if (e.type === 'customers.merged') {
      merge(d.survivorId, d.mergedIds);
      continue;
    }
    if (e.type === 'customer.merged-into') {
      merge(d.survivorId, [d.customerId]);
      continue;
    }
    if (!e.streamId.startsWith('customer-')) continue;
    const owner = live(e.streamId.slice('customer-'.length));
    const w = wallet(owner);
    const seen = earliest.get(owner);
    if (seen === undefined || Date.parse(meta.occurredAt) < Date.parse(seen)) earliest.set(owner, meta.occurredAt);
    const segment = segmentOf(w.purchases, w.cents);
    const at = meta.occurredAt as string;
    const base = { channel: meta.channel ?? '(none)', source: meta.source, segment, agent: meta.agentId ?? '(none)', category: '(none)' };
    switch (e.type) {
      case 'survey.answered': {
        const v2 = meta.schemaVersion === 1 ? { [d.survey]: d.score } : d;
        for (const kind of ['nps', 'csat', 'ces'] as const)
          if (v2[kind] !== undefined) facts.push({ kind, at, slices: base, score: v2[kind] });
        break;
      }
      case 'contact.handled':
        facts.push({
          kind: 'contact',
          at,
          slices: base,
          handle: d.handleSeconds,
          wait: d.waitSeconds,
          customer: owner,
          customerThen: owner,
          pos: e.position,
          reason: d.reason || undefined,
        });
        break;
      case 'purchase.completed':
        facts.push({ kind: 'purchase', at, slices: base, cents: Math.round(d.amount * 100) });
        w.purchases++;
        w.cents += Math.round(d.amount * 100);
        break;
      case 'refund.issued':
        facts.push({ kind: 'refund', at, slices: base, cents: Math.round(d.amount * 100) });
        w.cents -= Math.round(d.amount * 100);
        break;
      case 'order.cancelled':
        facts.push({ kind: 'cancel', at, slices: base });
        break;
      case 'complaint.filed':
        facts.push({ kind: 'complaint', at, slices: { ...base, category: d.category } });
        break;
      default:
        if (e.type.startsWith('case.')) {
          const list = cases.get(d.caseId) ?? cases.set(d.caseId, []).get(d.caseId)!;
          list.push({
            type: e.type,
            at,
            pos: e.position,
            data: d,
            channel: base.channel,
            source: base.source,
            segment,
            agent: meta.agentId ?? null,
          });
        }
    }
  }
  // each case from all its events at once: opening = earliest event; status, resolution, assignee = latest
  const byTime = (a: CaseEvent, b: CaseEvent) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.pos - b.pos);
  for (const events of cases.values()) {
    const sorted = [...events].sort(byTime);
    const opening = sorted[0];
    const status = sorted.filter((e) => ['case.resolved', 'case.reopened', 'case.status-changed', 'case.closed'].includes(e.type)).pop();
    const resolved = sorted.filter((e) => e.type === 'case.resolved').pop();
    const assignee = sorted.filter((e) => e.type === 'case.assigned' && e.data.assignee !== undefined).pop();
    const firstOpened = sorted.find((e) => e.type === 'case.opened');
    const slices: Slices = {
      channel: opening.channel,
      source: opening.source,
      segment: opening.segment,
      agent: assignee?.data.assignee ?? opening.agent ?? '(none)',
      category: firstOpened?.data.category ?? '(none)',
    };
    const reopened = events.some((e) => e.type === 'case.reopened');
    const escalated = events.some((e) => e.type === 'case.escalated');
    facts.push({ kind: 'caseOpened', at: opening.at, slices, reopened, escalated });
    const isOpen = !status || status.type === 'case.reopened' || status.type === 'case.status-changed';
    if (isOpen) continue;
    facts.push({ kind: 'caseFinished', at: status.at, slices });
    if (resolved) {
      const ms = Date.parse(resolved.at) - Date.parse(opening.at);
      facts.push({ kind: 'caseResolved', at: resolved.at, slices, ms, fcr: resolved.data.firstContactResolution });
    }
  }
  // a customer is who it is at the end of the log: later merges join ids retroactively
  for (const f of facts) if (f.kind === 'contact') f.customer = live(f.customer);
  // repeats: per customer and reason in time order (ties by log position), within the window of the previous one
  const threads = new Map<string, Extract<Fact, { kind: 'contact' }>[]>();
  for (const f of facts) {
    if (f.kind !== 'contact' || f.reason === undefined) continue;
    const key = `${f.customer} ${f.reason}`;
    (threads.get(key) ?? threads.set(key, []).get(key)!).push(f);
  }
  for (const thread of threads.values()) {
    thread.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.pos - b.pos);
    for (let i = 1; i < thread.length; i++) {
      const [previous, contact] = [thread[i - 1], thread[i]];
      contact.repeat = Date.parse(contact.at) - Date.parse(previous.at) <= REPEAT_WINDOW_DAYS * 86_400_000;
      if (contact.repeat)
        contact.repeatOf = { otherIdThen: previous.customerThen !== contact.customerThen, laterInLog: previous.pos > contact.pos };
    }
  }
  const firstSeen = new Map<string, string>();
  for (const [id, at] of earliest) {
    const who = live(id);
    const prior = firstSeen.get(who);
    if (prior === undefined || Date.parse(at) < Date.parse(prior)) firstSeen.set(who, at);
  }
  return { facts, firstSeen: [...firstSeen.values()] };
}

// ------------------------------------------------------------------------------------------------
// retention and churn, recomputed: the customer 360's lifecycle rules written again over each final
// customer's whole history (merges joined retroactively), evaluated at every instant the answer can change
// ------------------------------------------------------------------------------------------------

const DAY = 86_400_000;
const NOT_TOUCHES = ['customer.registered', 'customers.merged', 'customer.merged-into', 'milestone.reached', 'milestone.missed'];

/** Per final customer, the instants it became live (bought or subscribed, not churned) and stopped (churned), up to `now`. */
function liveChanges(log: RecordedEvent[], now: number): { at: number; live: boolean }[][] {
  const parent = new Map<string, string>();
  for (const e of log) {
    const d = e.data as any;
    if (e.type === 'customers.merged') for (const m of d.mergedIds) if (m !== d.survivorId) parent.set(m, d.survivorId);
    if (e.type === 'customer.merged-into' && d.customerId !== d.survivorId) parent.set(d.customerId, d.survivorId);
  }
  const finalOf = (id: string): string => (parent.has(id) ? finalOf(parent.get(id)!) : id);
  const histories = new Map<string, RecordedEvent[]>();
  for (const e of log) {
    if (!e.streamId.startsWith('customer-') || NOT_TOUCHES.includes(e.type)) continue;
    const who = finalOf(e.streamId.slice('customer-'.length));
    (histories.get(who) ?? histories.set(who, []).get(who)!).push(e);
  }
  const out: { at: number; live: boolean }[][] = [];
  for (const events of histories.values()) {
    const at = (e: RecordedEvent) => Date.parse((e.metadata as any).occurredAt);
    const sorted = [...events].sort((a, b) => at(a) - at(b) || a.position - b.position);
    /** the rules at instant t, from the events before t */
    const liveAt = (t: number): boolean => {
      const before = sorted.filter((e) => at(e) < t);
      const wins = before.filter((e) => e.type === 'purchase.completed' || e.type === 'subscription.started').map(at);
      if (wins.length === 0) return false; // prospect
      const lastSeen = Math.max(...before.map(at));
      if (lastSeen <= t - 180 * DAY) return false; // churned: 180 days without activity
      const status = new Map<string, boolean>();
      let lastCancel: number | undefined;
      for (const e of before) {
        const d = e.data as any;
        if (e.type === 'subscription.started' || e.type === 'subscription.changed') status.set(d.subscriptionId, true);
        if (e.type === 'subscription.cancelled') {
          status.set(d.subscriptionId, false);
          lastCancel = at(e);
        }
      }
      const active = [...status.values()].filter(Boolean).length;
      // churned: every subscription cancelled, no purchase or new subscription after the last cancellation
      return !(active === 0 && lastCancel !== undefined && lastCancel >= Math.max(...wins));
    };
    const instants = [...new Set(sorted.flatMap((e) => [at(e) + 1, at(e) + 180 * DAY]))].filter((t) => t <= now).sort((a, b) => a - b);
    const changes: { at: number; live: boolean }[] = [];
    let live = false;
    for (const t of instants)
      if (liveAt(t) !== live) {
        live = !live;
        changes.push({ at: t, live });
      }
    out.push(changes);
  }
  return out;
}

/** The expected retention and churn points per bucket (buckets as served, in order). */
function expectedLifecycle(customers: { at: number; live: boolean }[][], gran: string, buckets: string[]) {
  const points = new Map<string, { churned: Record<string, number>; retained: Record<string, number | null> }>();
  for (const b of buckets) {
    let [activeAtStart, activeAtEnd, churned, lost, acquired, wonBack] = [0, 0, 0, 0, 0, 0];
    for (const changes of customers) {
      const bucketOfChange = changes.map((c) => bucketOf(new Date(c.at).toISOString(), gran));
      const earlier = changes.filter((_, i) => bucketOfChange[i] < b);
      const inBucket = changes.filter((_, i) => bucketOfChange[i] === b);
      const liveBefore = earlier.length > 0 && earlier[earlier.length - 1].live;
      const liveAfter = inBucket.length > 0 ? inBucket[inBucket.length - 1].live : liveBefore;
      if (liveBefore) activeAtStart++;
      if (liveAfter) activeAtEnd++;
      if (inBucket.some((c) => !c.live)) churned++;
      if (liveBefore && !liveAfter) lost++;
      for (const c of inBucket) {
        if (c.live && changes.indexOf(c) === 0) acquired++;
        else if (c.live) wonBack++;
      }
    }
    const retained = activeAtStart - lost;
    points.set(b, {
      churned: { value: churned, activeAtStart, acquired, wonBack, activeAtEnd },
      retained: { value: retained, retentionRate: pct(retained, activeAtStart), activeAtStart, lost },
    });
  }
  return points;
}

const nearestRank = (values: number[], p: number): number | null => {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)];
};
const mean = (values: number[]) => (values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length);
const pct = (num: number, den: number) => (den === 0 ? null : (100 * num) / den);

/** The expected headline value and parts of a metric over one bucket's facts (percentiles exact). */
function expectedPoint(metric: string, f: Fact[], customersKnown = 0): Record<string, number | null> {
  const of = (kind: Fact['kind']) => f.filter((x) => x.kind === kind) as any[];
  switch (metric) {
    case 'nps': {
      const s = of('nps').map((x) => x.score);
      const [p, d] = [s.filter((x) => x >= 9).length, s.filter((x) => x <= 6).length];
      return { value: pct(p - d, s.length), promoters: p, detractors: d, responses: s.length };
    }
    case 'csat': {
      const s = of('csat').map((x) => x.score);
      return { value: mean(s), satisfiedPercent: pct(s.filter((x) => x >= 4).length, s.length), responses: s.length };
    }
    case 'ces': {
      const s = of('ces').map((x) => x.score);
      return { value: mean(s), lowEffortPercent: pct(s.filter((x) => x >= 5).length, s.length), responses: s.length };
    }
    case 'handle-time':
    case 'wait-time': {
      const s = of('contact')
        .map((x) => (metric === 'handle-time' ? x.handle : x.wait))
        .filter((x): x is number => x !== undefined);
      return { p50: nearestRank(s, 0.5), p90: nearestRank(s, 0.9), mean: mean(s), count: s.length };
    }
    case 'resolution-time': {
      const s = of('caseResolved').map((x) => x.ms / 1000);
      return { p50: nearestRank(s, 0.5), p90: nearestRank(s, 0.9), mean: mean(s), count: s.length };
    }
    case 'first-contact-resolution': {
      const known = of('caseResolved').filter((x) => x.fcr !== undefined);
      return { value: pct(known.filter((x) => x.fcr).length, known.length), resolvedWithFlag: known.length };
    }
    case 'contacts':
      return { value: of('contact').length };
    case 'cases-opened':
      return { value: of('caseOpened').length };
    case 'cases-resolved':
      return { value: of('caseResolved').length };
    case 'reopen-rate': {
      const o = of('caseOpened');
      return { value: pct(o.filter((x) => x.reopened).length, o.length), opened: o.length };
    }
    case 'escalation-rate': {
      const o = of('caseOpened');
      return { value: pct(o.filter((x) => x.escalated).length, o.length), opened: o.length };
    }
    case 'purchases': {
      const [p, r] = [of('purchase'), of('refund')];
      const sum = (xs: { cents: number }[]) => xs.reduce((a, x) => a + x.cents, 0);
      return { value: p.length, amount: sum(p) / 100, netValue: (sum(p) - sum(r)) / 100 };
    }
    case 'refunds':
      return { value: of('refund').length, amount: of('refund').reduce((a, x) => a + x.cents, 0) / 100 };
    case 'cancellations':
      return { value: of('cancel').length };
    case 'complaints':
      return { value: of('complaint').length };
    case 'repeat-contact-rate': {
      const withReason = of('contact').filter((x) => x.reason !== undefined);
      const repeats = withReason.filter((x) => x.repeat).length;
      return { value: pct(repeats, withReason.length), repeats, contactsWithReason: withReason.length };
    }
    case 'contacts-per-customer': {
      const contacts = of('contact');
      const customers = new Set(contacts.map((x) => x.customer)).size;
      return { value: customers === 0 ? null : contacts.length / customers, contacts: contacts.length, customers };
    }
    case 'cost-to-serve': {
      const contacts = of('contact');
      const costed = contacts.filter((x) => x.slices.channel in COSTS);
      const cost = costed.reduce((a, x) => a + COSTS[x.slices.channel as keyof typeof COSTS], 0);
      const customers = new Set(contacts.map((x) => x.customer)).size;
      return {
        value: cost,
        costedContacts: costed.length,
        uncostedContacts: contacts.length - costed.length,
        customers,
        costPerCustomer: customers === 0 ? null : cost / customers,
      };
    }
    case 'complaint-rate': {
      const complaints = of('complaint').length;
      return {
        value: customersKnown === 0 ? null : (1000 * complaints) / customersKnown,
        complaints,
        customers: customersKnown,
      };
    }
    default:
      throw new Error(`no recomputation for ${metric}`);
  }
}

/** The expected series of a metric: slice -> bucket -> point; the backlog as running totals from the start of the log. */
function expectedSeries({ facts, firstSeen }: Recomputed, metric: string, gran: string, sliceBy: keyof Slices | null, buckets: string[]) {
  // customers known by the end of a bucket: first event in it or before (the same for every slice)
  const knownBy = (bucket: string) => firstSeen.filter((at) => bucketOf(at, gran) <= bucket).length;
  const bySlice = new Map<string, Fact[]>();
  for (const f of facts) {
    const slice = sliceBy ? f.slices[sliceBy] : '*';
    (bySlice.get(slice) ?? bySlice.set(slice, []).get(slice)!).push(f);
  }
  const out = new Map<string, Map<string, Record<string, number | null>>>();
  for (const [slice, fs] of bySlice) {
    const byBucket = new Map<string, Fact[]>();
    for (const f of fs) {
      const b = bucketOf(f.at, gran);
      (byBucket.get(b) ?? byBucket.set(b, []).get(b)!).push(f);
    }
    const points = new Map<string, Record<string, number | null>>();
    // the backlog before the first bucket: cases opened minus finished earlier
    const before = (kind: string) => fs.filter((x) => x.kind === kind && bucketOf(x.at, gran) < buckets[0]).length;
    let open = before('caseOpened') - before('caseFinished');
    for (const b of buckets) {
      const inBucket = byBucket.get(b) ?? [];
      if (metric === 'case-backlog') {
        const count = (kind: string) => inBucket.filter((x) => x.kind === kind).length;
        open += count('caseOpened') - count('caseFinished');
        points.set(b, { value: open, opened: count('caseOpened'), finished: count('caseFinished') });
      } else points.set(b, expectedPoint(metric, inBucket, metric === 'complaint-rate' ? knownBy(b) : 0));
    }
    out.set(slice, points);
  }
  return out;
}

/** Compares a served point with the recomputed one: counts exact, means to rounding, percentiles within the sketch's bound. */
function sameFigures(served: Record<string, unknown>, expected: Record<string, number | null>, where: string): void {
  for (const [key, want] of Object.entries(expected)) {
    const got = served[key] as number | null;
    const label = `${where} ${key}: served ${got}, recomputed ${want}`;
    if (want === null) {
      if (got !== null) throw new Error(label);
      continue;
    }
    if (got === null) throw new Error(label);
    const tolerance = key === 'p50' || key === 'p90' ? 0.005 * want + 0.006 : 0.006;
    if (Math.abs(got - want) > tolerance) throw new Error(label);
  }
}

// ------------------------------------------------------------------------------------------------

/** events on Berlin day boundaries and daylight-saving changes, a reopened case, a late opening */
function boundaryEvents(): Record<string, unknown>[] {
  const who = { identifiers: [{ kind: 'email', value: 'boundary@example.com' }] };
  const [firstId, secondId] = [
    { kind: 'email', value: 'merge-first@example.com' },
    { kind: 'phone', value: '+4915112345678' },
  ];
  const [first, second, both] = [{ identifiers: [firstId] }, { identifiers: [secondId] }, { identifiers: [firstId, secondId] }];
  const contact = { direction: 'inbound', handleSeconds: 60, resolved: true };
  let n = 0;
  const ev = (type: string, occurredAt: string, data: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    eventId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    type,
    occurredAt,
    source: 'boundary-test',
    channel: 'chat',
    customer: who,
    data,
    ...extra,
  });
  return [
    // Saturday 28 March 2026 23:30 UTC = Sunday 29 March 00:30 CET, the day clocks go forward (23 hours)
    ev('survey.answered', '2026-03-28T23:30:00Z', { nps: 10 }),
    // Sunday 29 March 21:59 UTC = 23:59 CEST, still the 29th in Berlin
    ev('survey.answered', '2026-03-29T21:59:00Z', { nps: 0 }),
    // Sunday 29 March 22:30 UTC = Monday 30 March 00:30 CEST
    ev('survey.answered', '2026-03-29T22:30:00Z', { nps: 8 }),
    // 26 October 2025 (clocks go back, a 25-hour day): 00:30 CEST and 23:59 CET are both the 26th
    ev('contact.handled', '2025-10-25T22:30:00Z', { direction: 'inbound', handleSeconds: 100, waitSeconds: 5, resolved: true }),
    ev('contact.handled', '2025-10-26T22:59:00Z', { direction: 'inbound', handleSeconds: 300, waitSeconds: 15, resolved: true }),
    // a case resolved, reopened and resolved again: counted once, to its final resolution (in May)
    ev('case.opened', '2026-04-01T08:00:00Z', { caseId: 'B-1', category: 'billing' }, { agentId: 'agent-b' }),
    ev('case.resolved', '2026-04-02T08:00:00Z', { caseId: 'B-1', firstContactResolution: false }),
    ev('case.reopened', '2026-04-10T08:00:00Z', { caseId: 'B-1' }),
    ev('case.resolved', '2026-05-03T08:00:00Z', { caseId: 'B-1', firstContactResolution: false }),
    // two customers contact in February, then an event naming both merges them: one customer contacting twice
    ev('contact.handled', '2026-02-10T10:00:00Z', contact, { source: 'merge-test', customer: first }),
    ev('contact.handled', '2026-02-11T10:00:00Z', contact, { source: 'merge-test', customer: second }),
    ev('web.visited', '2026-02-12T10:00:00Z', { url: 'https://example.com/' }, { source: 'merge-test', customer: both }),
    // a late opening, earlier than the first one seen: the case opened then (and stays one case)
    ev('case.opened', '2026-03-31T08:00:00Z', { caseId: 'B-1', category: 'delivery' }),
  ];
}

async function project(loaded: LoadedPlatform, file: string, batchSize: number) {
  const readStore = await openSqliteReadStore(join(loaded.dir, file), { readModels: [model] });
  const running = await startProjector({ store: loaded.platform.store, db: readStore.db, readModels: [model], batchSize });
  expect(await running.projector.whenCaughtUpToHead(120_000)).toBe(true);
  return {
    readStore,
    running,
    queries: model.queries(readStore.db as Kysely<any>, { now: () => loaded.history.now }) as ExperienceMetricsQueries,
    async close() {
      await running.close();
      await readStore.close();
    },
  };
}

function dump(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return ['em_totals', 'em_cases', 'em_customers', 'em_progress', 'em_contact_customers', 'em_contact_history', 'em_lifecycle_pending']
      .map((t) =>
        db
          .prepare(`SELECT * FROM ${t} ORDER BY 1, 2`)
          .raw()
          .all()
          .map((r) => JSON.stringify(r))
          .join('\n'),
      )
      .join('\n--\n');
  } finally {
    db.close();
  }
}

const METRICS_CHECKED = [
  'nps',
  'csat',
  'ces',
  'first-contact-resolution',
  'handle-time',
  'wait-time',
  'contacts',
  'cases-opened',
  'cases-resolved',
  'case-backlog',
  'resolution-time',
  'reopen-rate',
  'escalation-rate',
  'purchases',
  'refunds',
  'cancellations',
  'complaints',
  'contacts-per-customer',
  'complaint-rate',
  'cost-to-serve',
  'repeat-contact-rate',
];

describe('experience metrics over generated histories (Europe/Berlin)', () => {
  let loaded: LoadedPlatform;
  let log: RecordedEvent[];
  let recomputed: Recomputed;
  let facts: Fact[];
  let main: Awaited<ReturnType<typeof project>>;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 13, persons: 250, eventsPerPerson: [3, 30], lateShare: 0.1 });
    const extra = boundaryEvents();
    // the merging visit comes in a batch of its own (the contacts were appended to two customers first);
    // the late opening arrives last, after everything else
    await loaded.platform.ingestion.ingest(extra.slice(0, -2));
    await loaded.platform.ingestion.ingest(extra.slice(-2, -1));
    await loaded.platform.ingestion.ingest(extra.slice(-1));
    log = await loaded.platform.store.readAll();
    recomputed = recompute(log);
    facts = recomputed.facts;
    main = await project(loaded, 'main.db', 500);
  }, 180_000);

  afterAll(async () => {
    await main?.close();
    await loaded?.cleanup();
  });

  it('has what the checks need: merges, late events, reopened cases, repeated openings, every slice', () => {
    expect(log.filter((e) => e.type === 'customers.merged').length).toBeGreaterThan(10);
    const late = log.filter((e, i) => i > 0 && (e.metadata as any).occurredAt < (log[i - 1].metadata as any).occurredAt);
    expect(late.length).toBeGreaterThan(100);
    expect(facts.filter((f) => f.kind === 'caseOpened' && f.reopened).length).toBeGreaterThan(10);
    const openings = log.filter((e) => e.type === 'case.opened').length;
    expect(openings).toBeGreaterThan(facts.filter((f) => f.kind === 'caseOpened').length); // repeated openings
    expect(new Set(facts.map((f) => f.slices.segment)).size).toBeGreaterThanOrEqual(3);
    // repeats, some only because of a merge (the earlier contact was another customer then), some only because of a late contact
    const repeats = facts.filter((f) => f.kind === 'contact' && f.repeat) as Extract<Fact, { kind: 'contact' }>[];
    expect(repeats.length).toBeGreaterThan(50);
    expect(repeats.filter((f) => f.repeatOf!.otherIdThen).length).toBeGreaterThan(0);
    expect(repeats.filter((f) => f.repeatOf!.laterInLog).length).toBeGreaterThan(0);
  });

  it.each(['day', 'week', 'month'])(
    'every metric, unsliced and by each slice, equals the recomputation (%s buckets)',
    async (gran) => {
      let compared = 0;
      for (const metric of METRICS_CHECKED) {
        for (const sliceBy of [null, 'channel', 'source', 'segment', 'agent', 'category'] as const) {
          const served: MetricSeries = await main.queries.seriesOf({
            metric,
            bucket: gran,
            from: FROM,
            to: TO,
            ...(sliceBy ? { sliceBy } : {}),
          });
          const buckets = served.series[0].points.map((p) => p.bucket);
          const expected = expectedSeries(recomputed, metric, gran, sliceBy, buckets);
          const servedSlices = served.series.map((s) => s.slice);
          const withData = [...expected.keys()].filter((s) => hasData(expected.get(s)!)).sort();
          if (sliceBy === null) expect(servedSlices).toEqual(['*']);
          else expect(servedSlices).toEqual(withData);
          for (const line of served.series) {
            const want = expected.get(line.slice);
            for (const point of line.points) {
              const where = `${metric} ${gran} ${sliceBy ?? 'all'}=${line.slice} ${point.bucket}`;
              sameFigures(point, want?.get(point.bucket) ?? expectedPoint(metric === 'case-backlog' ? 'contacts' : metric, []), where);
              compared++;
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(1000);
    },
    120_000,
  );

  it.each(['week', 'month'])(
    'two dimensions (channel and segment): sliced by one, filtered on the other or on both, equal the recomputation (%s)',
    async (gran) => {
      const combos: { sliceBy: 'channel' | 'segment' | null; filters: [keyof Slices, string[]][] }[] = [
        { sliceBy: 'channel', filters: [['segment', ['high', 'strategic']]] },
        { sliceBy: 'segment', filters: [['channel', ['phone']]] },
        {
          sliceBy: null,
          filters: [
            ['channel', ['phone', 'chat']],
            ['segment', ['low', 'medium']],
          ],
        },
        {
          sliceBy: 'channel',
          filters: [
            ['channel', ['phone', 'email']],
            ['segment', ['none']],
          ],
        },
      ];
      let compared = 0;
      // the distinct-customer metrics too: a customer in two of the filtered values counts once per line
      for (const metric of METRICS_CHECKED) {
        for (const { sliceBy, filters } of combos) {
          const served = await main.queries.seriesOf({
            metric,
            bucket: gran,
            from: FROM,
            to: TO,
            ...(sliceBy ? { sliceBy } : {}),
            filter: filters.flatMap(([d, values]) => values.map((v) => `${d}:${v}`)),
          });
          const kept = facts.filter((f) => filters.every(([d, values]) => values.includes(f.slices[d])));
          // a sliced series without any data has no line: no buckets to compare, and none expected
          const buckets = served.series[0]?.points.map((p) => p.bucket) ?? [];
          const expected = expectedSeries({ ...recomputed, facts: kept }, metric, gran, sliceBy, buckets);
          const sliceValues = filters.find(([d]) => d === sliceBy)?.[1];
          const wanted = sliceValues ?? [...expected.keys()].filter((x) => hasData(expected.get(x)!));
          expect(served.series.map((x) => x.slice)).toEqual(sliceBy ? [...wanted].sort() : ['*']);
          for (const line of served.series) {
            const want = expected.get(line.slice);
            for (const point of line.points) {
              const where = `${metric} ${gran} ${sliceBy ?? 'all'}=${line.slice} ${JSON.stringify(filters)} ${point.bucket}`;
              const empty = expectedPoint(metric === 'case-backlog' ? 'contacts' : metric, []);
              sameFigures(point, want?.get(point.bucket) ?? empty, where);
              compared++;
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(500);
    },
    120_000,
  );

  it.each(['day', 'week', 'month'])(
    'retention and churn counts equal the recomputation from the lifecycle rules, now and a year later (%s buckets)',
    async (gran) => {
      let compared = 0;
      const totals: number[] = [];
      for (const now of [loaded.history.now, loaded.history.now + 365 * DAY]) {
        const queries = model.queries(main.readStore.db as Kysely<any>, { now: () => now }) as ExperienceMetricsQueries;
        const customers = liveChanges(log, now);
        const from = gran === 'day' ? '2025-12-01' : FROM;
        const to = gran === 'day' ? '2026-12-01' : '2027-01-01';
        const churned = await queries.seriesOf({ metric: 'churned-customers', bucket: gran, from, to });
        const retained = await queries.seriesOf({ metric: 'retained-customers', bucket: gran, from, to });
        totals.push(churned.series[0].points.reduce((sum, p) => sum + p.value!, 0));
        expect(retained.series[0].points.some((p) => p.value! > 0 && p.lost! > 0)).toBe(true);
        const expected = expectedLifecycle(
          customers,
          gran,
          churned.series[0].points.map((p) => p.bucket),
        );
        for (const [line, kind] of [
          [churned, 'churned'],
          [retained, 'retained'],
        ] as const)
          for (const point of line.series[0].points) {
            sameFigures(point, expected.get(point.bucket)![kind], `${kind} ${gran} now=${new Date(now).toISOString()} ${point.bucket}`);
            compared++;
          }
      }
      // the history has churns of both kinds, won-back customers, and churns by inactivity not yet happened at the first now
      const changes = liveChanges(log, loaded.history.now + 365 * DAY);
      expect(changes.filter((c) => c.filter((x) => !x.live).length > 0).length).toBeGreaterThan(20);
      expect(changes.filter((c) => c.filter((x) => x.live).length > 1).length).toBeGreaterThan(0);
      expect(changes.flat().filter((c) => !c.live && c.at > loaded.history.now).length).toBeGreaterThan(10);
      expect(compared).toBeGreaterThan(20);
      // churns by inactivity count once the clock has reached them: more churned customers a year later
      expect(totals[0]).toBeGreaterThan(20);
      expect(totals[1]).toBeGreaterThan(totals[0]);
    },
    180_000,
  );

  it('refuses a slice or a filter on retention and churn, naming the parameter', async () => {
    const q = { bucket: 'month', from: FROM, to: TO } as const;
    await expect(main.queries.seriesOf({ ...q, metric: 'churned-customers', sliceBy: 'segment' })).rejects.toMatchObject({
      parameter: 'sliceBy',
    });
    await expect(main.queries.seriesOf({ ...q, metric: 'retained-customers', filter: 'channel:phone' })).rejects.toMatchObject({
      parameter: 'filter',
    });
  });

  it('refuses dimensions that cannot be combined, naming filter', async () => {
    const q = { bucket: 'month', from: FROM, to: TO } as const;
    await expect(main.queries.seriesOf({ ...q, metric: 'nps', sliceBy: 'channel', filter: 'source:x' })).rejects.toMatchObject({
      parameter: 'filter',
      reason: 'channel, source cannot be combined in one series; the combinable pairs: channel+segment',
    });
    await expect(
      main.queries.seriesOf({ ...q, metric: 'nps', sliceBy: 'channel', filter: ['segment:high', 'agent:a'] }),
    ).rejects.toMatchObject({ parameter: 'filter', reason: expect.stringMatching(/^channel, segment, agent cannot be combined/) });
    await expect(
      main.queries.seriesOf({ ...q, metric: 'contacts-per-customer', sliceBy: 'channel', filter: 'agent:a' }),
    ).rejects.toMatchObject({ parameter: 'filter', reason: expect.stringMatching(/^channel, agent cannot be combined/) });
  });

  it('buckets by the Berlin calendar across a day boundary and both daylight-saving changes', async () => {
    const nps = await main.queries.seriesOf({
      metric: 'nps',
      bucket: 'day',
      from: '2026-03-28',
      to: '2026-03-31',
      filter: 'source:boundary-test',
    });
    const days = nps.series[0].points.map((p) => [p.bucket, p.start, p.end, p.promoters, p.detractors, p.passives]);
    expect(days).toEqual([
      ['2026-03-28', '2026-03-27T23:00:00Z', '2026-03-28T23:00:00Z', 0, 0, 0],
      // 23 hours long: the promoter of 23:30 UTC on the 28th and the detractor of 21:59 UTC on the 29th
      ['2026-03-29', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', 1, 1, 0],
      ['2026-03-30', '2026-03-29T22:00:00Z', '2026-03-30T22:00:00Z', 0, 0, 1],
    ]);
    const handle = await main.queries.seriesOf({
      metric: 'handle-time',
      bucket: 'day',
      from: '2025-10-26',
      to: '2025-10-27',
      filter: 'source:boundary-test',
    });
    expect(handle.series[0].points.map((p) => [p.start, p.end, p.count, p.mean])).toEqual([
      ['2025-10-25T22:00:00Z', '2025-10-26T23:00:00Z', 2, 200],
    ]);
  });

  it('counts two customers merged after their contacts as one contacting customer', async () => {
    const answer = await main.queries.seriesOf({
      metric: 'contacts-per-customer',
      bucket: 'month',
      from: '2026-02-01',
      to: '2026-03-01',
      filter: 'source:merge-test',
    });
    expect(answer.series[0].points.map((p) => [p.value, p.contacts, p.customers])).toEqual([[2, 2, 1]]);
  });

  it('refuses cost-to-serve, naming the metric, where no contact cost is configured', async () => {
    const unpriced = main.queries.withContactCosts(null);
    await expect(unpriced.seriesOf({ metric: 'cost-to-serve', bucket: 'month', from: FROM, to: TO })).rejects.toMatchObject({
      parameter: 'metric',
      reason: 'cost-to-serve needs a cost per contact channel: CONTACT_COSTS is not configured',
    });
  });

  it('counts a reopened case once, to its final resolution, opened at its earliest event (a late one)', async () => {
    const q = { bucket: 'month', from: '2026-03-01', to: '2026-06-01', filter: 'source:boundary-test' } as const;
    const opened = await main.queries.seriesOf({ ...q, metric: 'cases-opened' });
    expect(opened.series[0].points.map((p) => p.value)).toEqual([1, 0, 0]);
    const resolution = await main.queries.seriesOf({ ...q, metric: 'resolution-time' });
    expect(resolution.series[0].points.map((p) => p.count)).toEqual([0, 0, 1]);
    // 31 March 08:00 to 3 May 08:00 = 33 days
    expect(resolution.series[0].points[2].mean).toBe(33 * 86_400);
    expect(Math.abs(resolution.series[0].points[2].p50! - 33 * 86_400)).toBeLessThanOrEqual(0.005 * 33 * 86_400);
    const backlog = await main.queries.seriesOf({ ...q, metric: 'case-backlog' });
    expect(backlog.series[0].points.map((p) => p.value)).toEqual([1, 1, 0]);
    const reopened = await main.queries.seriesOf({ ...q, metric: 'reopen-rate' });
    expect(reopened.series[0].points[0]).toMatchObject({ value: 100, reopened: 1, opened: 1 });
  });

  it('rebuilds byte-identical at other batch sizes, and a redelivered stretch of the log changes nothing', async () => {
    const one = await project(loaded, 'b97.db', 97);
    await one.close();
    const two = await project(loaded, 'b1000.db', 1000);
    await two.close();
    const reference = dump(join(loaded.dir, 'main.db'));
    expect(dump(join(loaded.dir, 'b97.db'))).toBe(reference);
    expect(dump(join(loaded.dir, 'b1000.db'))).toBe(reference);

    const again = await project(loaded, 'b1000.db', 1000);
    await again.close();
    const readStore = await openSqliteReadStore(join(loaded.dir, 'b1000.db'), { readModels: [model] });
    await writeCheckpoint(readStore.db, 'experience-metrics', Math.floor(log.length * 0.6), model.version);
    await readStore.close();
    const replayed = await project(loaded, 'b1000.db', 333);
    await replayed.close();
    expect(dump(join(loaded.dir, 'b1000.db'))).toBe(reference);
  }, 180_000);
});

/** a slice has data when a point has a count or rate; customers known alone (the same for every slice) is not data of the slice */
const hasData = (points: Map<string, Record<string, number | null>>) =>
  [...points.values()].some((p) => Object.entries(p).some(([k, v]) => k !== 'customers' && v !== null && v !== 0));
