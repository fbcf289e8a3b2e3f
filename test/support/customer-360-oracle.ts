import type { RecordedEvent } from '@cem/event-store';

/**
 * An independent recomputation of the customer 360 from the whole log, written the plain way:
 * find each stream's final owner from all merge events, gather the owner's events, sort them by
 * occurredAt (ties by position) and read the facts off the sorted list. No incremental state, no
 * shared code with the projection, so agreement between the two means something.
 */
export interface OracleCustomer {
  customerId: string;
  identifiers: Record<string, string[]>;
  firstSeenAt: string | null;
  lastSeenAt: string | null;
  registeredAt: string | null;
  eventCount: number;
  channels: Record<string, number>;
  types: Record<string, number>;
  money: Record<string, { purchased: number; refunded: number }>;
  purchases: number;
  nps: number | null;
  csat: number | null;
  ces: number | null;
  openCases: { caseId: string; openedAt: string }[];
  subscriptions: Record<string, { plan?: string; status: 'active' | 'cancelled' }>;
  consents: Record<string, boolean>;
  profile: Record<string, unknown>;
  complaints: number;
  lastComplaintAt: string | null;
  firstCommercialAt: string | null;
  lastWinAt: string | null;
  lastCancelAt: string | null;
  absorbed: string[];
  /** positions of its timeline, in timeline order */
  timeline: number[];
}

export interface Oracle {
  customers: Map<string, OracleCustomer>;
  /** merged-away id -> live survivor */
  mergedInto: Map<string, string>;
  /** `kind:value` -> live customer */
  identifierOwner: Map<string, string>;
}

const streamCustomer = (e: RecordedEvent) => e.streamId.slice('customer-'.length);
const occurred = (e: RecordedEvent) => (e.metadata as { occurredAt: string }).occurredAt;
/**
 * The customer's touch points (the brief's event model), listed here rather than taken from the projection's
 * catalogue: everything else on a customer's stream (registration, merges, milestones, segment
 * membership, churn-risk bands, erasures) is the platform's own and no touch.
 */
const TOUCHPOINT_TYPES = new Set([
  'contact.handled',
  'message.received',
  'message.sent',
  'web.visited',
  'purchase.completed',
  'order.cancelled',
  'refund.issued',
  'survey.answered',
  'case.opened',
  'case.resolved',
  'case.reopened',
  'case.escalated',
  'case.assigned',
  'case.status-changed',
  'case.closed',
  'complaint.filed',
  'campaign.responded',
  'subscription.started',
  'subscription.changed',
  'subscription.cancelled',
  'profile.updated',
  'consent.changed',
  'identifiers.linked',
]);
const TOUCHPOINT = (type: string) => TOUCHPOINT_TYPES.has(type);

export function recompute(log: RecordedEvent[]): Oracle {
  const parent = new Map<string, string>();
  for (const e of log) {
    if (e.type === 'customers.merged') {
      const d = e.data as { survivorId: string; mergedIds: string[] };
      for (const m of d.mergedIds) if (m !== d.survivorId) parent.set(m, d.survivorId);
    }
  }
  const owner = (id: string): string => {
    let cur = id;
    while (parent.has(cur)) cur = parent.get(cur)!;
    return cur;
  };
  const byOwner = new Map<string, RecordedEvent[]>();
  for (const e of log) {
    const o = owner(streamCustomer(e));
    (byOwner.get(o) ?? byOwner.set(o, []).get(o)!).push(e);
  }
  const customers = new Map<string, OracleCustomer>();
  const identifierOwner = new Map<string, string>();
  for (const [customerId, events] of byOwner) {
    const sorted = [...events].sort((a, b) => (occurred(a) < occurred(b) ? -1 : occurred(a) > occurred(b) ? 1 : a.position - b.position));
    const c = compute(customerId, sorted);
    c.absorbed = [...parent.keys()].filter((id) => owner(id) === customerId).sort();
    customers.set(customerId, c);
    for (const [kind, values] of Object.entries(c.identifiers)) for (const v of values) identifierOwner.set(`${kind}:${v}`, customerId);
  }
  const mergedInto = new Map<string, string>();
  for (const id of parent.keys()) mergedInto.set(id, owner(id));
  return { customers, mergedInto, identifierOwner };
}

function compute(customerId: string, sorted: RecordedEvent[]): OracleCustomer {
  const ids = new Map<string, Set<string>>();
  const addIds = (list: { kind: string; value: string }[] | undefined) => {
    for (const i of list ?? []) (ids.get(i.kind) ?? ids.set(i.kind, new Set()).get(i.kind)!).add(i.value);
  };
  const touch = sorted.filter((e) => TOUCHPOINT(e.type));
  const c: OracleCustomer = {
    customerId,
    identifiers: {},
    firstSeenAt: touch.length ? occurred(touch[0]) : null,
    lastSeenAt: touch.length ? occurred(touch[touch.length - 1]) : null,
    registeredAt: null,
    eventCount: touch.length,
    channels: {},
    types: {},
    money: {},
    purchases: 0,
    nps: null,
    csat: null,
    ces: null,
    openCases: [],
    subscriptions: {},
    consents: {},
    profile: {},
    complaints: 0,
    lastComplaintAt: null,
    firstCommercialAt: null,
    lastWinAt: null,
    lastCancelAt: null,
    absorbed: [],
    timeline: sorted.map((e) => e.position),
  };
  const cases = new Map<string, { openedAt: string; status: 'open' | 'resolved' | 'closed' }>();
  for (const e of sorted) {
    const meta = e.metadata as { channel?: string; identifiers?: { kind: string; value: string }[] };
    const d = e.data as any;
    addIds(meta.identifiers);
    if (e.type === 'customer.registered') {
      addIds(d.identifiers);
      if (c.registeredAt === null) c.registeredAt = occurred(e);
    }
    if (!TOUCHPOINT(e.type)) continue;
    const at = occurred(e);
    c.types[e.type] = (c.types[e.type] ?? 0) + 1;
    if (meta.channel) c.channels[meta.channel] = (c.channels[meta.channel] ?? 0) + 1;
    switch (e.type) {
      case 'purchase.completed':
        c.money[d.currency] ??= { purchased: 0, refunded: 0 };
        c.money[d.currency].purchased += Math.round(d.amount * 100);
        c.purchases++;
        c.firstCommercialAt ??= at;
        c.lastWinAt = at;
        break;
      case 'subscription.started':
        c.firstCommercialAt ??= at;
        c.lastWinAt = at;
        c.subscriptions[d.subscriptionId] = { plan: d.plan, status: 'active' };
        break;
      case 'subscription.changed':
        c.subscriptions[d.subscriptionId] = { plan: d.toPlan, status: 'active' };
        break;
      case 'subscription.cancelled':
        c.subscriptions[d.subscriptionId] = { ...(c.subscriptions[d.subscriptionId] ?? {}), status: 'cancelled' };
        c.lastCancelAt = at;
        break;
      case 'refund.issued':
        c.money[d.currency] ??= { purchased: 0, refunded: 0 };
        c.money[d.currency].refunded += Math.round(d.amount * 100);
        break;
      case 'survey.answered': {
        // stored payloads may be version 1 ({survey, score}); read both shapes here, independently
        const v2 = 'survey' in d ? { [d.survey]: d.score } : d;
        if (v2.nps !== undefined) c.nps = v2.nps;
        if (v2.csat !== undefined) c.csat = v2.csat;
        if (v2.ces !== undefined) c.ces = v2.ces;
        break;
      }
      case 'case.opened':
      case 'case.reopened':
      case 'case.status-changed':
      case 'case.resolved':
      case 'case.closed':
      case 'case.assigned':
      case 'case.escalated': {
        // events in time order: the first event of any kind opens the case, whatever its type
        const cs = cases.get(d.caseId) ?? { openedAt: at, status: 'open' as 'open' | 'resolved' | 'closed' };
        // status events only: opened (a start, never a reopening), assigned and escalated are not
        if (e.type === 'case.reopened' || e.type === 'case.status-changed') cs.status = 'open';
        if (e.type === 'case.resolved') cs.status = 'resolved';
        if (e.type === 'case.closed') cs.status = 'closed';
        cases.set(d.caseId, cs);
        break;
      }
      case 'complaint.filed':
        c.complaints++;
        c.lastComplaintAt = at;
        break;
      case 'consent.changed':
        c.consents[d.purpose] = d.granted;
        break;
      case 'profile.updated':
        Object.assign(c.profile, d);
        break;
      case 'identifiers.linked':
        addIds(d.identifiers);
        break;
    }
  }
  for (const [kind, values] of ids) c.identifiers[kind] = [...values].sort();
  // never registered after first seen: the registration took the first ingested event's instant
  if (c.registeredAt !== null && c.firstSeenAt !== null && c.firstSeenAt < c.registeredAt) c.registeredAt = c.firstSeenAt;
  c.openCases = [...cases.entries()].filter(([, s]) => s.status === 'open').map(([caseId, s]) => ({ caseId, openedAt: s.openedAt }));
  return c;
}
