import type { ChurnBand } from '@cem/domain';
import type { CustomerKeyedState, CustomerModel } from '../kit/customer-states';
import { isTouchpointRecord, type ProjectedRecord } from '../projector/projected-record';
import { netValueOf } from '../customer-360/customer-360.projection';
import { emptyCustomer360, type Customer360State, type Stamped } from '../customer-360/customer-360.state';
import { absorbCustomerFacts, evolveCustomer360, isLater } from '../customer-360/evolve';
import { lifecycleStage, npsCategory, valueSegment } from '../customer-360/lifecycle';
import { utcInstant } from '../milestones/milestones.model';
import { COUNT_DETAILS, MAX_COUNT, MAX_WINDOW_DAYS, type SegmentFacts } from './segment-rule';

/*
 * What the segments read model keeps per customer: the facts a rule compares (the customer 360's
 * own aggregates, folded by its evolve.ts and absorbCustomer, so the rules read the same lifecycle
 * stage and value segment as the 360), the last year of event instants for the windowed counts,
 * the latest churn band and milestone outcomes, and the customer's membership in each segment as
 * the segment.entered / segment.left events in the log say. No personal data: no identifiers, no
 * profile, no free text.
 */

/** The customer-360 facts the rules read, kept under the same names. */
const FACTS_360 = [
  'lastSeenAt',
  'firstCommercialAt',
  'lastWinAt',
  'lastCancelAt',
  'lastComplaintAt',
  'nps',
  'csat',
  'ces',
  'money',
  'purchases',
  'channels',
  'cases',
  'subscriptions',
  'consents',
] as const;
type Facts360 = Pick<Customer360State, (typeof FACTS_360)[number]>;

/** A customer's standing in one segment, from the latest segment event (highest ordinal). */
export interface Membership {
  member: boolean;
  /** when the customer entered (the rule's evaluation instant); null while out */
  since: string | null;
  /** the definition version of the latest change */
  version: number;
  /** the ordinal of the latest change: the next one is ordinal + 1 */
  ordinal: number;
  /** the entry was exported and signalled (consent held at entry) */
  activated: boolean;
}

export interface SegmentCustomerState extends CustomerKeyedState, Facts360 {
  churn: Stamped<{ band: ChurnBand; probability: number }> | null;
  milestones: Record<string, Stamped<'reached' | 'missed'>>;
  /** ascending UTC instants of the last MAX_WINDOW_DAYS (+1) of events, by `type` and `type|detail`, at most MAX_COUNT + 1 each */
  recent: Record<string, string[]>;
  /** the latest occurredAt of a touch point: the recent lists keep what is within a year of it */
  latestAt: string | null;
  memberships: Record<string, Membership>;
}

export function emptySegmentCustomer(customerId: string): SegmentCustomerState {
  const c = emptyCustomer360(customerId);
  const facts = Object.fromEntries(FACTS_360.map((k) => [k, c[k]])) as unknown as Facts360;
  return {
    customerId,
    mergedInto: null,
    lastPosition: 0,
    ...facts,
    churn: null,
    milestones: {},
    recent: {},
    latestAt: null,
    memberships: {},
  };
}

/** A customer-360 state holding just the facts kept here, for evolve.ts to fold into. */
function hydrate(s: SegmentCustomerState): Customer360State {
  const c = emptyCustomer360(s.customerId);
  c.mergedInto = s.mergedInto;
  c.lastPosition = s.lastPosition;
  for (const k of FACTS_360) (c as unknown as Record<string, unknown>)[k] = s[k];
  return c;
}
function keep(into: SegmentCustomerState, c: Customer360State): void {
  for (const k of FACTS_360) (into as unknown as Record<string, unknown>)[k] = c[k];
}

const KEEP_MS = (MAX_WINDOW_DAYS + 1) * 86_400_000;

/** Keeps the instants within a year (and a day) of the latest, and the newest MAX_COUNT + 1 of them. */
function prune(list: string[], latestAt: string): string[] {
  const cut = new Date(Date.parse(latestAt) - KEEP_MS).toISOString();
  let from = 0;
  while (from < list.length && list[from] < cut) from++;
  from = Math.max(from, list.length - (MAX_COUNT + 1));
  return from > 0 ? list.slice(from) : list;
}

function insertSorted(list: string[], at: string): void {
  let i = list.length;
  while (i > 0 && list[i - 1] > at) i--;
  list.splice(i, 0, at);
}

function mergeSorted(a: string[], b: string[]): string[] {
  return [...a, ...b].sort();
}

/** The keys an event is counted under: its type, and `type|detail` when its type has a detail to filter on. */
export function countKeysOf(record: ProjectedRecord): string[] {
  const detail = COUNT_DETAILS[record.type];
  const value = detail ? (record.data as Record<string, unknown>)[detail] : undefined;
  return typeof value === 'string' && value !== '' ? [record.type, `${record.type}|${value}`] : [record.type];
}

/** Folds one event of the customer (routed by the kit) into its state. */
export function evolveSegmentCustomer(state: SegmentCustomerState, record: ProjectedRecord): void {
  const at = record.metadata.occurredAt;
  const pos = record.position;
  switch (record.type) {
    case 'churn-risk.changed': {
      const d = record.data;
      if (isLater(state.churn, at, pos)) state.churn = { value: { band: d.band, probability: d.probability }, at, pos };
      return;
    }
    case 'milestone.reached':
    case 'milestone.missed': {
      const id = record.data.milestoneId;
      if (isLater(state.milestones[id], at, pos))
        state.milestones[id] = { value: record.type === 'milestone.reached' ? 'reached' : 'missed', at, pos };
      return;
    }
    case 'segment.entered':
    case 'segment.left': {
      const d = record.data;
      const m = state.memberships[d.segmentId];
      // ordered by ordinal, not by arrival: each change is written once with the next ordinal
      if (m && d.ordinal <= m.ordinal) return;
      const entered = record.type === 'segment.entered';
      state.memberships[d.segmentId] = {
        member: entered,
        since: entered ? utcInstant(d.asOf) : null,
        version: d.version,
        ordinal: d.ordinal,
        activated: d.activated,
      };
      return;
    }
    default:
  }
  if (record.type !== 'customer.registered' && !isTouchpointRecord(record)) return;
  const c = hydrate(state);
  evolveCustomer360(c, record);
  keep(state, c);
  if (!isTouchpointRecord(record)) return;
  const instant = utcInstant(at);
  if (state.latestAt === null || instant > state.latestAt) state.latestAt = instant;
  for (const key of countKeysOf(record)) {
    const list = (state.recent[key] ??= []);
    insertSorted(list, instant);
    state.recent[key] = prune(list, state.latestAt);
  }
}

/** Two memberships of one segment as one: in while either is; the earliest entry; the latest ordinal. */
function combine(a: Membership | undefined, b: Membership): Membership {
  if (!a) return { ...b };
  const member = a.member || b.member;
  const sinces = [a, b].filter((m) => m.member && m.since !== null).map((m) => m.since!);
  return {
    member,
    since: member ? sinces.sort()[0] : null,
    version: Math.max(a.version, b.version),
    ordinal: Math.max(a.ordinal, b.ordinal),
    activated: (a.member && a.activated) || (b.member && b.activated),
  };
}

/**
 * The segments state on the customer-keyed kit. A merge folds the merged-away customer's facts
 * into the survivor's (the customer 360's absorbCustomer) and its memberships too: the survivor is
 * in a segment when either was (membership follows the survivor; the next evaluation re-checks
 * the rule on the combined facts and announces a change for the survivor only).
 */
export const segmentCustomerModel: CustomerModel<SegmentCustomerState> = {
  empty: emptySegmentCustomer,
  absorb(survivor, merged, merge) {
    const target = hydrate(survivor);
    absorbCustomerFacts(target, hydrate(merged), merge);
    keep(survivor, target);
    if (merged.churn && isLater(survivor.churn, merged.churn.at, merged.churn.pos)) survivor.churn = merged.churn;
    for (const [id, m] of Object.entries(merged.milestones)) if (isLater(survivor.milestones[id], m.at, m.pos)) survivor.milestones[id] = m;
    if (merged.latestAt !== null && (survivor.latestAt === null || merged.latestAt > survivor.latestAt))
      survivor.latestAt = merged.latestAt;
    for (const [key, list] of Object.entries(merged.recent))
      survivor.recent[key] = prune(mergeSorted(survivor.recent[key] ?? [], list), survivor.latestAt!);
    for (const [id, m] of Object.entries(merged.memberships)) survivor.memberships[id] = combine(survivor.memberships[id], m);
  },
  // an unmerge refolds both customers with it: facts and memberships as if the merge had not happened
  evolve: evolveSegmentCustomer,
};

/** The facts a rule reads, for a live customer at `asOfMs` (the lifecycle stage depends on it). */
export function segmentFactsOf(s: SegmentCustomerState, asOfMs: number): SegmentFacts {
  const netValue = netValueOf(s);
  const channels: string[] = [];
  for (const [channel, n] of Object.entries(s.channels)) if (n > 0) channels.push(channel);
  let openCases = 0;
  for (const c of Object.values(s.cases)) if (c.status === 'open') openCases++;
  let activeSubscriptions = 0;
  for (const sub of Object.values(s.subscriptions)) if (sub.status === 'active') activeSubscriptions++;
  const consents: Record<string, boolean> = {};
  for (const [purpose, c] of Object.entries(s.consents)) consents[purpose] = c.value;
  const milestones: Record<string, 'reached' | 'missed'> = {};
  for (const [id, m] of Object.entries(s.milestones)) milestones[id] = m.value;
  const nps = s.nps?.value ?? null;
  return {
    lifecycleStage: lifecycleStage(
      {
        lastSeenAt: s.lastSeenAt,
        firstCommercialAt: s.firstCommercialAt,
        lastWinAt: s.lastWinAt,
        lastCancelAt: s.lastCancelAt,
        activeSubscriptions,
        npsCategory: nps === null ? null : npsCategory(nps),
        lastComplaintAt: s.lastComplaintAt,
      },
      asOfMs,
    ),
    valueSegment: valueSegment(s.purchases, netValue),
    netValue,
    purchases: s.purchases,
    channels,
    openCases,
    nps,
    npsCategory: nps === null ? null : npsCategory(nps),
    csat: s.csat?.value ?? null,
    ces: s.ces?.value ?? null,
    consents,
    churnBand: s.churn?.value.band ?? 'low',
    churnScore: s.churn?.value.probability ?? null,
    milestones,
    recent: s.recent,
  };
}

/** Whether a customer may be exported and signalled for a segment that needs `purpose`. */
export const consentHeld = (s: Pick<SegmentCustomerState, 'consents'>, purpose: string | null): boolean =>
  purpose === null || s.consents[purpose]?.value === true;
