/**
 * The stored state of one customer's 360 view: every fact as an order-independent aggregate
 * (sum, min, max, or "latest by occurredAt, ties by log position"), so a late event never
 * overwrites a newer fact and two customers' states can be combined when they merge.
 */

/** A fact and the instant (and log position, for ties) that made it the latest. */
export interface Stamped<T> {
  value: T;
  at: string;
  pos: number;
}

export interface CaseState {
  /** earliest occurredAt of any event of the case */
  openedAt: string;
  status: 'open' | 'resolved';
  statusAt: string;
  statusPos: number;
  category?: string;
  priority?: string;
  escalations: number;
  reopens: number;
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

/** Money as integers of 1/10,000 of the major unit: sums stay exact whatever the order of events. */
export interface MoneyState {
  purchased: number;
  refunded: number;
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
  | { kind: 'merged-into'; survivorId: string; at: string; position: number };

export interface Customer360State {
  customerId: string;
  /** set on a merged-away customer: the survivor that holds its history now (always the live one) */
  mergedInto: string | null;
  /** last log position applied; events at or below it are already in this state */
  lastPosition: number;
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
export const toMoneyUnits = (amount: number): number => Math.round(amount * MONEY_SCALE);
export const fromMoneyUnits = (units: number): number => units / MONEY_SCALE;

/**
 * The stored document. Plain JSON.stringify is deterministic here: a state's keys are added in the
 * order its events are applied (and JSON.parse keeps that order across batches), which is the log
 * order in every run, whatever the batch boundaries. Sorting keys would cost a tenth of a rebuild.
 */
export function documentJson(state: Customer360State): string {
  return JSON.stringify(state);
}
