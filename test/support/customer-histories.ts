import { deterministicUuid } from '@cem/domain';

/**
 * Realistic multi-channel touch-point histories as an integration would send them (valid raw
 * envelopes for IngestionService), deterministic for a seed. A person is known under several
 * identifiers; events name only some of them, so the registry first sees separate customers and
 * merges them when an event names two. A share of events arrives late (months after they happened,
 * as a backfill would), and some surveys use the old schema version.
 */
export interface HistoryOptions {
  seed: number;
  persons: number;
  /** events per person, inclusive range */
  eventsPerPerson?: [number, number];
  /** share of events delivered at the end, out of time order */
  lateShare?: number;
  from?: string;
  to?: string;
}

export interface GeneratedHistory {
  /** in the order to ingest them */
  envelopes: Record<string, unknown>[];
  /** an instant after every occurredAt: the clock to ingest and query with */
  now: number;
}

export class Rand {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    // mulberry32
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

type Kind = 'email' | 'phone' | 'crm';
interface Person {
  n: number;
  ids: Partial<Record<Kind, string>>;
  cases: string[];
  subscriptions: { id: string; plan: string; cancelled: boolean }[];
  orders: string[];
}

const TYPES: [string, number][] = [
  ['contact.handled', 18],
  ['message.received', 8],
  ['message.sent', 6],
  ['web.visited', 16],
  ['purchase.completed', 10],
  ['order.cancelled', 1],
  ['refund.issued', 2],
  ['survey.answered', 6],
  ['case.opened', 5],
  ['case.resolved', 4],
  ['case.reopened', 1],
  ['case.escalated', 1],
  ['case.assigned', 1],
  ['case.status-changed', 1],
  ['case.closed', 1],
  ['complaint.filed', 2],
  ['campaign.responded', 5],
  ['subscription.started', 3],
  ['subscription.changed', 2],
  ['subscription.cancelled', 2],
  ['profile.updated', 3],
  ['consent.changed', 3],
  ['identifiers.linked', 1],
];
const TOTAL_WEIGHT = TYPES.reduce((s, [, w]) => s + w, 0);
const PLANS = ['basic', 'plus', 'premium'];
const PURPOSES = ['marketing-email', 'marketing-sms', 'profiling'];

export function generateHistories(options: HistoryOptions): GeneratedHistory {
  const rnd = new Rand(options.seed);
  const [minEvents, maxEvents] = options.eventsPerPerson ?? [3, 25];
  const from = Date.parse(options.from ?? '2025-01-01T00:00:00Z');
  const to = Date.parse(options.to ?? '2026-06-01T00:00:00Z');
  const lateShare = options.lateShare ?? 0.08;
  let eventNo = 0;
  const all: { at: number; env: Record<string, unknown> }[] = [];

  for (let n = 0; n < options.persons; n++) {
    const p: Person = { n, ids: { email: `p${options.seed}-${n}@example.com` }, cases: [], subscriptions: [], orders: [] };
    if (rnd.chance(0.5)) p.ids.phone = `+3161${String(rnd.int(0, 9_999_999)).padStart(7, '0')}`;
    if (rnd.chance(0.4)) p.ids.crm = `CRM-${options.seed}-${n}`;
    const start = from + rnd.next() * (to - from) * 0.8;
    const span = rnd.next() * (to - start);
    const count = rnd.int(minEvents, maxEvents);
    const times = Array.from({ length: count }, () => Math.floor(start + rnd.next() * span)).sort((a, b) => a - b);
    for (const at of times) {
      const env = makeEvent(rnd, p, at, options.seed, eventNo++);
      if (env) all.push({ at, env });
    }
  }
  all.sort((a, b) => a.at - b.at);
  const onTime: Record<string, unknown>[] = [];
  const late: Record<string, unknown>[] = [];
  for (const e of all) (rnd.chance(lateShare) ? late : onTime).push(e.env);
  return { envelopes: [...onTime, ...late], now: to + 86_400_000 };
}

function identifiersFor(rnd: Rand, p: Person): { kind: Kind; value: string }[] {
  const kinds = Object.keys(p.ids) as Kind[];
  const r = rnd.next();
  let chosen: Kind[];
  if (r < 0.7 || kinds.length === 1) chosen = ['email'];
  else if (r < 0.85) chosen = [rnd.pick(kinds)];
  else chosen = kinds.filter(() => rnd.chance(0.7));
  if (chosen.length === 0) chosen = ['email'];
  return chosen.map((kind) => ({ kind, value: p.ids[kind]! }));
}

const money = (rnd: Rand, min: number, max: number) => Math.round((min + rnd.next() * (max - min)) * 100) / 100;

function makeEvent(rnd: Rand, p: Person, at: number, seed: number, no: number): Record<string, unknown> | undefined {
  let roll = rnd.next() * TOTAL_WEIGHT;
  let type = TYPES[0][0];
  for (const [t, w] of TYPES) {
    if ((roll -= w) < 0) {
      type = t;
      break;
    }
  }
  let channel = 'web';
  let data: Record<string, unknown>;
  let schemaVersion: number | undefined;
  switch (type) {
    case 'contact.handled':
      channel = rnd.pick(['phone', 'chat', 'phone']);
      data = {
        direction: rnd.pick(['inbound', 'outbound']),
        handleSeconds: rnd.int(30, 1800),
        waitSeconds: rnd.int(0, 600),
        resolved: rnd.chance(0.7),
        reason: rnd.pick(['billing', 'delivery', 'product']),
      };
      break;
    case 'message.received':
    case 'message.sent':
      channel = rnd.pick(['email', 'sms', 'social', 'chat']);
      data = { threadId: `T-${p.n}-${rnd.int(1, 5)}`, subject: 'About my order', body: 'Hello, a question.' };
      break;
    case 'web.visited':
      channel = rnd.pick(['web', 'app']);
      data = { url: `https://shop.example.com/p/${rnd.int(1, 500)}`, pageViews: rnd.int(1, 20), durationSeconds: rnd.int(5, 1200) };
      break;
    case 'purchase.completed': {
      channel = rnd.pick(['web', 'app', 'store']);
      const orderId = `O-${seed}-${no}`;
      p.orders.push(orderId);
      data = {
        orderId,
        amount: money(rnd, 5, 400),
        currency: rnd.chance(0.8) ? 'EUR' : 'USD',
        items: rnd.int(1, 6),
        productCategory: rnd.pick(['books', 'music', 'video']),
      };
      break;
    }
    case 'order.cancelled':
      if (p.orders.length === 0) return undefined;
      channel = rnd.pick(['web', 'phone']);
      data = { orderId: rnd.pick(p.orders), reason: 'changed mind' };
      break;
    case 'refund.issued':
      channel = rnd.pick(['web', 'phone', 'store']);
      data = {
        orderId: p.orders.length > 0 ? rnd.pick(p.orders) : undefined,
        amount: money(rnd, 1, 100),
        currency: rnd.chance(0.8) ? 'EUR' : 'USD',
      };
      if (data.orderId === undefined) delete data.orderId;
      break;
    case 'survey.answered':
      channel = rnd.pick(['email', 'web']);
      if (rnd.chance(0.25)) {
        schemaVersion = 1;
        const survey = rnd.pick(['nps', 'csat', 'ces'] as const);
        data = { survey, score: survey === 'nps' ? rnd.int(0, 10) : survey === 'csat' ? rnd.int(1, 5) : rnd.int(1, 7), comment: 'ok' };
      } else {
        data = { surveyId: `S${rnd.int(1, 9)}`, nps: rnd.int(0, 10) };
        if (rnd.chance(0.5)) data.csat = rnd.int(1, 5);
        if (rnd.chance(0.3)) data.ces = rnd.int(1, 7);
      }
      break;
    case 'case.opened': {
      channel = rnd.pick(['phone', 'email', 'chat']);
      // now and then a source sends the opening of a case it already opened (a repeated row, a retry
      // with a new event id): still one case
      const repeated = p.cases.length > 0 && rnd.chance(0.15);
      const caseId = repeated ? rnd.pick(p.cases) : `C-${seed}-${no}`;
      if (!repeated) p.cases.push(caseId);
      data = {
        caseId,
        category: rnd.pick(['billing', 'delivery', 'quality']),
        priority: rnd.pick(['low', 'normal', 'high']),
        subject: 'Problem',
      };
      break;
    }
    case 'case.resolved':
    case 'case.reopened':
    case 'case.escalated':
    case 'case.assigned':
    case 'case.status-changed':
    case 'case.closed': {
      if (p.cases.length === 0) return undefined;
      channel = rnd.pick(['phone', 'email', 'chat']);
      const caseId = rnd.pick(p.cases);
      if (type === 'case.resolved') {
        data = { caseId };
        if (rnd.chance(0.7)) data.firstContactResolution = rnd.chance(0.5); // exports often do not know
      } else if (type === 'case.reopened') data = { caseId, reason: 'not fixed' };
      else if (type === 'case.escalated') data = { caseId, level: rnd.int(1, 3) };
      else if (type === 'case.assigned')
        data = rnd.chance(0.5) ? { caseId, assignee: `agent-${rnd.int(1, 9)}` } : { caseId, team: 'second-line' };
      else if (type === 'case.status-changed')
        data = { caseId, status: rnd.pick(['in-progress', 'waiting', 'on-hold', 'pending-customer']) };
      else data = { caseId, reason: rnd.pick(['resolved', 'duplicate']) };
      break;
    }
    case 'complaint.filed':
      channel = rnd.pick(['phone', 'email', 'social']);
      data = {
        category: rnd.pick(['product', 'service', 'after-sales']),
        severity: rnd.pick(['low', 'medium', 'high']),
        description: 'Not happy',
      };
      break;
    case 'campaign.responded':
      channel = rnd.pick(['email', 'sms', 'social']);
      data = { campaignId: `CMP-${rnd.int(1, 20)}`, response: rnd.pick(['opened', 'clicked', 'converted', 'unsubscribed', 'ignored']) };
      break;
    case 'subscription.started': {
      channel = rnd.pick(['web', 'app', 'phone']);
      const s = { id: `SUB-${seed}-${no}`, plan: rnd.pick(PLANS), cancelled: false };
      p.subscriptions.push(s);
      data = { subscriptionId: s.id, plan: s.plan, monthlyAmount: money(rnd, 5, 50), currency: 'EUR' };
      break;
    }
    case 'subscription.changed': {
      const live = p.subscriptions.filter((s) => !s.cancelled);
      if (live.length === 0) return undefined;
      const s = rnd.pick(live);
      const toPlan = rnd.pick(PLANS);
      data = {
        subscriptionId: s.id,
        change: PLANS.indexOf(toPlan) > PLANS.indexOf(s.plan) ? 'upgrade' : 'downgrade',
        fromPlan: s.plan,
        toPlan,
        monthlyAmount: money(rnd, 5, 50),
        currency: 'EUR',
      };
      s.plan = toPlan;
      break;
    }
    case 'subscription.cancelled': {
      const live = p.subscriptions.filter((s) => !s.cancelled);
      if (live.length === 0) return undefined;
      const s = rnd.pick(live);
      s.cancelled = true;
      channel = rnd.pick(['web', 'phone']);
      data = { subscriptionId: s.id, reason: rnd.pick(['price', 'service', 'moving']) };
      break;
    }
    case 'profile.updated':
      channel = rnd.pick(['web', 'app', 'store']);
      data = { firstName: rnd.pick(['Ana', 'Bram', 'Chen', 'Dewi']), language: rnd.pick(['nl', 'en', 'de']) };
      if (rnd.chance(0.3)) data.address = { city: rnd.pick(['Utrecht', 'Gent', 'Köln']), country: rnd.pick(['NL', 'BE', 'DE']) };
      break;
    case 'consent.changed':
      channel = rnd.pick(['web', 'app', 'email']);
      data = { purpose: rnd.pick(PURPOSES), granted: rnd.chance(0.6) };
      break;
    case 'identifiers.linked': {
      const kinds = Object.keys(p.ids) as Kind[];
      if (kinds.length < 2) return undefined;
      channel = 'other';
      data = { identifiers: kinds.map((kind) => ({ kind, value: p.ids[kind] })) };
      break;
    }
    default:
      return undefined;
  }
  const offset = rnd.pick(['Z', '+01:00', '-05:00']);
  return {
    eventId: deterministicUuid('history', String(seed), String(no)),
    type,
    ...(schemaVersion ? { schemaVersion } : {}),
    occurredAt: isoWithOffset(at, offset),
    source: rnd.pick(['genesys', 'zendesk', 'shopify', 'qualtrics', 'braze']),
    channel,
    customer: { identifiers: identifiersFor(rnd, p) },
    ...(rnd.chance(0.3) ? { agentId: `agent-${rnd.int(1, 40)}` } : {}),
    ...(rnd.chance(0.3) ? { correlationId: `conv-${p.n}-${rnd.int(1, 10)}` } : {}),
    data,
  };
}

/** The instant written with the given offset, as integrations send it. */
function isoWithOffset(ms: number, offset: string): string {
  if (offset === 'Z') return new Date(ms).toISOString();
  const sign = offset[0] === '+' ? 1 : -1;
  const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  return new Date(ms + minutes * 60_000).toISOString().replace('Z', offset);
}
