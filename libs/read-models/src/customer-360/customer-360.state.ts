/**
 * The stored state of one customer's 360 view: every fact as an order-independent aggregate
 * (sum, min, max, or "latest by occurredAt, ties by log position"), so a late event never
 * overwrites a newer fact and two customers' states can be combined when they merge.
 */
import type { CaseWorkStatus } from '@cem/domain';

/** A fact and the instant (and log position, for ties) that made it the latest. */
export interface Stamped<T> {
  value: T;
  at: string;
  pos: number;
}

/** An instant and log position: what made a fact the latest (or the earliest). */
export interface Stamp {
  at: string;
  pos: number;
}

/**
 * One case, keyed by caseId: however many `case.opened` events name it, it is one case
 * (docs/read-models.md, customer 360 cases).
 */
export interface CaseState {
  /** earliest occurredAt of any event of the case */
  openedAt: string;
  /**
   * From the latest status event by occurredAt (ties by log position): case.reopened and
   * case.status-changed -> open, case.resolved -> resolved, case.closed -> closed. Open while the
   * case has none (case.opened, case.assigned and case.escalated are not status changes).
   */
  status: 'open' | 'resolved' | 'closed';
  /** the status a case.status-changed gave, while it is the latest status event (in-progress, waiting...) */
  workStatus?: CaseWorkStatus;
  statusAt: string;
  statusPos: number;
  /** category and priority of the earliest case.opened (the opening), stamped by it */
  category?: string;
  priority?: string;
  opening?: Stamp;
  /** the latest case.assigned, as sent (either may be absent) */
  assignee?: string;
  team?: string;
  assigned?: Stamp;
  escalations: number;
  reopens: number;
  /** the latest case.resolved: when, and whether it was first contact (absent when it did not say) */
  resolved?: Stamp;
  firstContactResolution?: boolean;
}

export interface SubscriptionState {
  plan?: string;
  planAt?: string;
  planPos?: number;
  status: 'active' | 'cancelled';
  statusAt: string;
  statusPos: number;
  startedAt?: string;
  /** decimal monthly amount, as sent */
  monthlyAmount?: number;
  currency?: string;
}

/**
 * An exact integer count of 1/10,000 of the major unit: a JSON number while it is a safe integer
 * (|n| < 2^53, about 900 billion major units), a decimal string beyond, since JSON has no big integers.
 * Ingestion bounds each amount (0 to 100 billion, 4 decimals); a customer's sum has no bound, hence this.
 */
export type MoneyUnits = number | string;

/** Money as integers of 1/10,000 of the major unit: sums stay exact whatever the order of events. */
export interface MoneyState {
  purchased: MoneyUnits;
  refunded: MoneyUnits;
}

export type MergeRecord =
  | {
      kind: 'absorbed';
      mergeId: string;
      mergedIds: string[];
      at: string;
      position: number;
      rule: string;
      survivorRule: string;
      identifiers: string[];
    }
  | { kind: 'merged-into'; survivorId: string; at: string; position: number }
  /** a merge undone (customers.unmerged): on the survivor and on the customer split off */
  | { kind: 'unmerged'; mergeId: string; survivorId: string; splitId: string; at: string; position: number };

export interface Customer360State {
  customerId: string;
  /** set on a merged-away customer: the survivor that holds its history now (always the live one) */
  mergedInto: string | null;
  /** last log position applied; events at or below it are already in this state */
  lastPosition: number;
  /**
   * The customer.registered event's occurredAt, or the first touch point's when that is earlier:
   * registration takes the instant of the first event ingested, which need not be the earliest (a
   * file not in time order, a late backfill), and a customer is never registered after first seen.
   * Null until the registration is folded.
   */
  registeredAt: string | null;
  firstSeenAt: string | null;
  lastSeenAt: string | null;
  /** touch-point events (system events are not counted) */
  eventCount: number;
  /** kind -> sorted values */
  identifiers: Record<string, string[]>;
  channels: Record<string, number>;
  types: Record<string, number>;
  money: Record<string, MoneyState>;
  purchases: number;
  refunds: number;
  cancelledOrders: number;
  firstCommercialAt: string | null;
  lastWinAt: string | null;
  lastCancelAt: string | null;
  lastPurchaseAt: string | null;
  nps: Stamped<number> | null;
  csat: Stamped<number> | null;
  ces: Stamped<number> | null;
  complaints: number;
  lastComplaintAt: string | null;
  cases: Record<string, CaseState>;
  subscriptions: Record<string, SubscriptionState>;
  consents: Record<string, Stamped<boolean>>;
  /** profile attributes (personal data), each the latest value sent */
  profile: Record<string, Stamped<unknown>>;
  merges: MergeRecord[];
}

export function emptyCustomer360(customerId: string): Customer360State {
  return {
    customerId,
    mergedInto: null,
    lastPosition: 0,
    registeredAt: null,
    firstSeenAt: null,
    lastSeenAt: null,
    eventCount: 0,
    identifiers: {},
    channels: {},
    types: {},
    money: {},
    purchases: 0,
    refunds: 0,
    cancelledOrders: 0,
    firstCommercialAt: null,
    lastWinAt: null,
    lastCancelAt: null,
    lastPurchaseAt: null,
    nps: null,
    csat: null,
    ces: null,
    complaints: 0,
    lastComplaintAt: null,
    cases: {},
    subscriptions: {},
    consents: {},
    profile: {},
    merges: [],
  };
}

/** Money amounts are kept as integers of this fraction of the major unit. */
export const MONEY_SCALE = 10_000;
const AMOUNT_TEXT = /^(\d{1,15})(?:\.(\d{1,4}))?$/;
const SCALE = BigInt(MONEY_SCALE);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const fromBig = (n: bigint): MoneyUnits => (n <= MAX_SAFE && n >= -MAX_SAFE ? Number(n) : n.toString());
// a document written before units could be strings may hold a non-finite amount as null: it counts as 0
const toBig = (u: MoneyUnits): bigint => (typeof u === 'string' ? BigInt(u) : Number.isSafeInteger(u) ? BigInt(u) : 0n);

/** The exact units of an amount, read from its decimal form (never amount * 10,000 in floating point). */
export function toMoneyUnits(amount: number): MoneyUnits {
  const m = AMOUNT_TEXT.exec(String(amount));
  if (m) {
    const units = Number(m[1]) * MONEY_SCALE + (m[2] === undefined ? 0 : Number(m[2].padEnd(4, '0')));
    if (Number.isSafeInteger(units)) return units;
  }
  // only amounts recorded before ingestion bounded them get here (negative, huge or finer than 1/10,000)
  if (!Number.isFinite(amount)) return 0;
  const whole = Math.trunc(amount);
  return fromBig(BigInt(whole) * SCALE + BigInt(Math.round((amount - whole) * MONEY_SCALE)));
}

export function addMoneyUnits(a: MoneyUnits, b: MoneyUnits): MoneyUnits {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b;
    if (Number.isSafeInteger(sum)) return sum; // exact: both operands and the result are safe integers
  }
  return fromBig(toBig(a) + toBig(b));
}

export const subMoneyUnits = (a: MoneyUnits, b: MoneyUnits): MoneyUnits =>
  addMoneyUnits(a, typeof b === 'number' ? -b : fromBig(-toBig(b)));

/** Units as a decimal number of major units: the closest double to the exact value (finite, whatever the sum). */
export function fromMoneyUnits(units: MoneyUnits): number {
  if (typeof units === 'number') return Number.isFinite(units) ? units / MONEY_SCALE : 0; // exact integers: one correct rounding
  const n = toBig(units);
  const abs = n < 0n ? -n : n;
  const value = Number(`${n < 0n ? '-' : ''}${abs / SCALE}.${String(abs % SCALE).padStart(4, '0')}`);
  return Number.isFinite(value) ? value : Math.sign(value) * Number.MAX_VALUE;
}

/**
 * The stored document. Plain JSON.stringify is deterministic here: a state's keys are added in the
 * order its events are applied (and JSON.parse keeps that order across batches), which is the log
 * order in every run, whatever the batch boundaries. Sorting keys would cost a tenth of a rebuild.
 */
export function documentJson(state: Customer360State): string {
  return JSON.stringify(state);
}
