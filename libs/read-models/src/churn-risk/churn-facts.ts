import type { CustomerKeyedState, CustomerModel } from '../kit/customer-states';
import { isTouchpointRecord, type ProjectedRecord } from '../projector/projected-record';

/**
 * What the churn-risk model needs to know about one customer, kept with the instant of every fact
 * (epoch ms), so that the risk can be evaluated at any as-of instant from the facts that occurred
 * before it (no leakage) and rises as time passes without events. Every list is kept sorted, so the
 * document does not depend on the order events arrive in (late events are normal). Amounts are in
 * major units, currencies added without conversion (as the customer 360's value segment).
 */
export interface ChurnFacts extends CustomerKeyedState {
  /** distinct instants of touch points (any touch-point event; none of the platform's own events) */
  touches: number[];
  /** [at, amount] of each purchase */
  purchases: [number, number][];
  refunds: [number, number][];
  orderCancellations: number[];
  /** [at, caseId, status]: `o` opened / reopened / status changed (open), `r` resolved, `c` closed, `R` reopened */
  caseEvents: [number, string, CaseMark][];
  /** [at, reason] of inbound contacts */
  contacts: [number, string][];
  /** [at, nps, csat, ces] (-1 when the answer has no such score) */
  surveys: [number, number, number, number][];
  complaints: number[];
  /** [at, change, subscriptionId]: start, upgrade, downgrade, other, cancel (the id tells which subscriptions are still active) */
  subscriptions: [number, SubscriptionMark, string][];
  unsubscribes: number[];
  /** the band changes this customer was told about (`churn-risk.changed`), in log order */
  announced: number;
  announcedBand: string | null;
}

export type CaseMark = 'o' | 'r' | 'c' | 'R';
export type SubscriptionMark = 'start' | 'upgrade' | 'downgrade' | 'other' | 'cancel';

export const emptyChurnFacts = (customerId: string): ChurnFacts => ({
  customerId,
  mergedInto: null,
  lastPosition: 0,
  touches: [],
  purchases: [],
  refunds: [],
  orderCancellations: [],
  caseEvents: [],
  contacts: [],
  surveys: [],
  complaints: [],
  subscriptions: [],
  unsubscribes: [],
  announced: 0,
  announcedBand: null,
});

type Comparable = number | string | (number | string)[];
const compare = (a: Comparable, b: Comparable): number => {
  // most lists hold instants: compared without wrapping each in an array
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  const x = Array.isArray(a) ? a : [a];
  const y = Array.isArray(b) ? b : [b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] < y[i]) return -1;
    if (x[i] > y[i]) return 1;
  }
  return x.length - y.length;
};

/**
 * Inserts keeping the list sorted (late events land in place), after any equal entry; `unique` drops an
 * equal entry. In-order events append at once; a late one is placed by binary search, so folding a
 * history that arrived out of order (an as-of view, a backfill) is not quadratic in comparisons.
 */
function insertSorted<T extends Comparable>(list: T[], item: T, unique = false): void {
  let i = list.length;
  if (i > 0 && compare(list[i - 1], item) > 0) {
    let lo = 0;
    let hi = i - 1; // list[hi] > item
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(list[mid], item) > 0) hi = mid;
      else lo = mid + 1;
    }
    i = lo; // the first entry greater than item
  }
  if (unique && i > 0 && compare(list[i - 1], item) === 0) return;
  list.splice(i, 0, item);
}

const SUBSCRIPTION_CHANGES: Record<string, SubscriptionMark> = { upgrade: 'upgrade', downgrade: 'downgrade', other: 'other' };

/** Folds one record of the customer's streams into its facts. */
export function foldChurnFacts(facts: ChurnFacts, record: ProjectedRecord): void {
  const at = Date.parse(record.metadata.occurredAt);
  if (!Number.isFinite(at)) return;
  if (record.type === 'churn-risk.changed') {
    facts.announced++;
    facts.announcedBand = record.data.band;
    return;
  }
  // only the customer's own touch points are touches: the platform's events on a customer's stream
  // (registration, merges, milestone.reached / missed, segment.entered / left, an erasure) are not,
  // as in the customer 360 (a scheduled milestone.missed must not make a silent customer look active)
  if (!isTouchpointRecord(record)) return;
  insertSorted(facts.touches, at, true);
  switch (record.type) {
    case 'purchase.completed':
      insertSorted(facts.purchases, [at, record.data.amount]);
      return;
    case 'refund.issued':
      insertSorted(facts.refunds, [at, record.data.amount]);
      return;
    case 'order.cancelled':
      insertSorted(facts.orderCancellations, at);
      return;
    case 'case.opened':
    case 'case.status-changed':
      insertSorted(facts.caseEvents, [at, record.data.caseId, 'o']);
      return;
    case 'case.reopened':
      insertSorted(facts.caseEvents, [at, record.data.caseId, 'R']);
      return;
    case 'case.resolved':
      insertSorted(facts.caseEvents, [at, record.data.caseId, 'r']);
      return;
    case 'case.closed':
      insertSorted(facts.caseEvents, [at, record.data.caseId, 'c']);
      return;
    case 'contact.handled':
      if (record.data.direction === 'inbound') insertSorted(facts.contacts, [at, record.data.reason ?? '']);
      return;
    case 'survey.answered':
      insertSorted(facts.surveys, [at, record.data.nps ?? -1, record.data.csat ?? -1, record.data.ces ?? -1]);
      return;
    case 'complaint.filed':
      insertSorted(facts.complaints, at);
      return;
    case 'subscription.started':
      insertSorted(facts.subscriptions, [at, 'start', record.data.subscriptionId]);
      return;
    case 'subscription.changed':
      insertSorted(facts.subscriptions, [at, SUBSCRIPTION_CHANGES[record.data.change] ?? 'other', record.data.subscriptionId]);
      return;
    case 'subscription.cancelled':
      insertSorted(facts.subscriptions, [at, 'cancel', record.data.subscriptionId]);
      return;
    case 'campaign.responded':
      if (record.data.response === 'unsubscribed') insertSorted(facts.unsubscribes, at);
      return;
    default:
      return;
  }
}

/** Merging two customers: every fact list is the union (so "A, then merge B" equals folding both histories). */
export const churnFactsModel: CustomerModel<ChurnFacts> = {
  empty: emptyChurnFacts,
  evolve: (facts, record) => foldChurnFacts(facts, record),
  absorb(survivor, merged) {
    for (const t of merged.touches) insertSorted(survivor.touches, t, true);
    for (const p of merged.purchases) insertSorted(survivor.purchases, p);
    for (const p of merged.refunds) insertSorted(survivor.refunds, p);
    for (const t of merged.orderCancellations) insertSorted(survivor.orderCancellations, t);
    for (const c of merged.caseEvents) insertSorted(survivor.caseEvents, c);
    for (const c of merged.contacts) insertSorted(survivor.contacts, c);
    for (const s of merged.surveys) insertSorted(survivor.surveys, s);
    for (const t of merged.complaints) insertSorted(survivor.complaints, t);
    for (const s of merged.subscriptions) insertSorted(survivor.subscriptions, s);
    for (const t of merged.unsubscribes) insertSorted(survivor.unsubscribes, t);
  },
};
