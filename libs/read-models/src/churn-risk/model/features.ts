import type { BgNbdParams, PurchaseSummary } from './bg-nbd';
import { conditionalExpectedPurchases, probabilityAlive } from './bg-nbd';
import type { ChurnFacts } from '../churn-facts';

export const DAY_MS = 86_400_000;
const WEEK_DAYS = 7;

/** The inputs of the risk model, in the order the fitted model stores them. */
export const FEATURE_NAMES = [
  'bgnbd_alive',
  'bgnbd_expected_purchases',
  'purchase_recency_vs_rhythm',
  'days_since_last_touch',
  'purchase_count',
  'purchase_frequency_trend',
  'value_trend',
  'average_order_value',
  'tenure',
  'unresolved_cases',
  'reopened_cases',
  'repeat_contacts',
  'detractor_nps',
  'low_csat',
  'high_effort',
  'complaints',
  'refunds',
  'order_cancellations',
  'downgrades',
  'subscription_cancelled',
  'active_subscription',
  'unsubscribed',
  'no_purchase_history',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

export interface FeatureContext {
  bgNbd: BgNbdParams;
  /** the window the expectation is for (the model's training window) */
  windowDays: number;
}

export interface CustomerFeatures {
  values: Record<FeatureName, number>;
  /** a sentence built from the customer's own facts, per feature */
  reasons: Record<FeatureName, string>;
}

const before = <T>(list: readonly T[], at: (x: T) => number, asOf: number): T[] => {
  // lists are sorted by instant: cut at the first fact at or after asOf
  let hi = list.length;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (at(list[mid]) < asOf) lo = mid + 1;
    else hi = mid;
  }
  return list.slice(0, lo);
};
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const days = (ms: number) => Math.floor(ms / DAY_MS);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const logit = (p: number) => Math.log(p / (1 - p));
const clamp = (p: number) => Math.min(1 - 1e-6, Math.max(1e-6, p));
const money = (v: number) => (Math.round(v * 100) / 100).toFixed(2);

/** Has the customer any touch point before `asOf` (a customer the model can score then)? */
export const knownAt = (facts: ChurnFacts, asOf: number): boolean => facts.touches.length > 0 && facts.touches[0] < asOf;

/**
 * BG/NBD's summary as of `asOf`: purchases on the same calendar day count as one transaction (as in
 * the CDNOW studies), x = repeat purchase days, t_x and T in weeks since the first purchase.
 */
export function purchaseSummary(facts: ChurnFacts, asOf: number): PurchaseSummary | undefined {
  const purchases = before(facts.purchases, (p) => p[0], asOf);
  if (purchases.length === 0) return undefined;
  const purchaseDays = [...new Set(purchases.map((p) => days(p[0])))];
  const first = purchaseDays[0];
  const last = purchaseDays[purchaseDays.length - 1];
  return { x: purchaseDays.length - 1, tx: (last - first) / WEEK_DAYS, T: (asOf / DAY_MS - first) / WEEK_DAYS };
}

/** Every feature of one customer as of `asOf`, from the facts that occurred before it only. */
export function churnFeatures(facts: ChurnFacts, asOf: number, context: FeatureContext): CustomerFeatures {
  const v = {} as Record<FeatureName, number>;
  const r = {} as Record<FeatureName, string>;
  const set = (name: FeatureName, value: number, reason: string) => {
    v[name] = value;
    r[name] = reason;
  };
  const since = (d: number) => asOf - d * DAY_MS;
  const touches = before(facts.touches, (t) => t, asOf);
  const purchases = before(facts.purchases, (p) => p[0], asOf);
  const refunds = before(facts.refunds, (p) => p[0], asOf);
  const summary = purchaseSummary(facts, asOf);

  // purchase-based "still alive" (BG/NBD)
  if (summary) {
    const alive = probabilityAlive(context.bgNbd, summary);
    const expected = conditionalExpectedPurchases(context.bgNbd, context.windowDays / WEEK_DAYS, summary);
    set('bgnbd_alive', logit(clamp(alive)), `P(alive) ${alive.toFixed(2)} from ${plural(summary.x + 1, 'purchase day')} (BG/NBD)`);
    set(
      'bgnbd_expected_purchases',
      Math.log1p(expected),
      `${expected.toFixed(2)} purchases expected in the next ${context.windowDays} days (BG/NBD)`,
    );
  } else {
    set('bgnbd_alive', 0, 'no purchase: BG/NBD does not apply');
    set('bgnbd_expected_purchases', 0, 'no purchase: BG/NBD does not apply');
  }

  // recency relative to the customer's own rhythm
  const purchaseDays = [...new Set(purchases.map((p) => days(p[0])))];
  if (purchaseDays.length === 0) set('purchase_recency_vs_rhythm', 0, 'no purchase yet');
  else {
    const sinceLast = asOf / DAY_MS - purchaseDays[purchaseDays.length - 1];
    const gaps = purchaseDays.slice(1).map((d, i) => d - purchaseDays[i]);
    const usual = gaps.length > 0 ? median(gaps) : 30;
    set(
      'purchase_recency_vs_rhythm',
      Math.log((sinceLast + 1) / (usual + 1)),
      gaps.length > 0
        ? `no purchase for ${Math.floor(sinceLast)} days; usual gap ${Math.round(usual)} days`
        : `no purchase for ${Math.floor(sinceLast)} days; only one purchase day so far`,
    );
  }
  const lastTouch = touches.length > 0 ? touches[touches.length - 1] : asOf;
  const idle = Math.max(0, (asOf - lastTouch) / DAY_MS);
  set(
    'days_since_last_touch',
    Math.log1p(idle),
    touches.length > 0 ? `last touch point ${Math.floor(idle)} days ago (${day(lastTouch)})` : 'no touch point',
  );
  set('purchase_count', Math.log1p(purchaseDays.length), `${plural(purchaseDays.length, 'purchase day')} in all`);

  // frequency and value trend: the last 90 days against the 90 before
  const recent = purchases.filter((p) => p[0] >= since(90));
  const previous = purchases.filter((p) => p[0] >= since(180) && p[0] < since(90));
  const sum = (l: [number, number][]) => l.reduce((s, p) => s + p[1], 0);
  set(
    'purchase_frequency_trend',
    Math.log((recent.length + 1) / (previous.length + 1)),
    `${plural(recent.length, 'purchase')} in the last 90 days, ${previous.length} in the 90 before`,
  );
  set(
    'value_trend',
    Math.log((sum(recent) + 1) / (sum(previous) + 1)),
    `spent ${money(sum(recent))} in the last 90 days, ${money(sum(previous))} in the 90 before`,
  );
  const net = sum(purchases) - sum(refunds);
  set(
    'average_order_value',
    purchases.length > 0 ? Math.log1p(Math.max(0, net) / purchases.length) : 0,
    purchases.length > 0 ? `average order ${money(Math.max(0, net) / purchases.length)} net of refunds` : 'no purchase yet',
  );
  const tenure = touches.length > 0 ? (asOf - touches[0]) / DAY_MS : 0;
  set('tenure', Math.log1p(tenure), touches.length > 0 ? `customer since ${day(touches[0])} (${Math.floor(tenure)} days)` : 'new');

  // service: cases
  const caseEvents = before(facts.caseEvents, (c) => c[0], asOf);
  const cases = new Map<string, { opened: number; status: string }>();
  let reopened = 0;
  for (const [at, id, mark] of caseEvents) {
    const c = cases.get(id) ?? { opened: at, status: 'o' };
    if (mark === 'R') {
      c.status = 'o';
      if (at >= since(90)) reopened++;
    } else if (mark !== 'o' || c.status === 'o') c.status = mark === 'o' ? 'o' : mark;
    cases.set(id, c);
  }
  const oldOpen = [...cases.values()].filter((c) => c.status === 'o' && c.opened < since(7));
  set('unresolved_cases', oldOpen.length, `${plural(oldOpen.length, 'unresolved case')} older than 7 days`);
  set('reopened_cases', reopened, `${plural(reopened, 'case')} reopened in the last 90 days`);

  // repeat contacts for the same reason within 30 days
  const byReason = new Map<string, number>();
  for (const [at, reason] of before(facts.contacts, (c) => c[0], asOf))
    if (at >= since(30)) byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  let repeats = 0;
  let topReason = '';
  let topCount = 0;
  for (const [reason, n] of [...byReason].sort(([a], [b]) => a.localeCompare(b))) {
    repeats += n - 1;
    if (n > topCount) [topReason, topCount] = [reason, n];
  }
  set(
    'repeat_contacts',
    repeats,
    repeats > 0
      ? `${topCount} contacts about "${topReason || 'unspecified'}" in the last 30 days`
      : 'no repeat contact in the last 30 days',
  );

  // feedback: the latest answer of each scale within 180 days
  const surveys = before(facts.surveys, (s) => s[0], asOf).filter((s) => s[0] >= since(180));
  const latest = (i: 1 | 2 | 3) => [...surveys].reverse().find((s) => s[i] >= 0);
  const nps = latest(1);
  set(
    'detractor_nps',
    nps && nps[1] <= 6 ? 1 : 0,
    nps ? `${nps[1] <= 6 ? 'detractor' : 'NPS'} NPS ${nps[1]} on ${day(nps[0])}` : 'no NPS answer in 180 days',
  );
  const csat = latest(2);
  set('low_csat', csat && csat[2] <= 2 ? 1 : 0, csat ? `CSAT ${csat[2]} on ${day(csat[0])}` : 'no CSAT answer in 180 days');
  const ces = latest(3);
  set('high_effort', ces && ces[3] >= 5 ? 1 : 0, ces ? `effort score ${ces[3]} on ${day(ces[0])}` : 'no effort score in 180 days');

  const countSince = (list: number[], d: number) => before(list, (t) => t, asOf).filter((t) => t >= since(d));
  const complaints = countSince(facts.complaints, 90);
  set(
    'complaints',
    complaints.length,
    complaints.length > 0
      ? `${plural(complaints.length, 'complaint')} in the last 90 days, last on ${day(complaints[complaints.length - 1])}`
      : 'no complaint in 90 days',
  );
  const recentRefunds = refunds.filter((p) => p[0] >= since(90));
  set('refunds', recentRefunds.length, `${plural(recentRefunds.length, 'refund')} in the last 90 days`);
  const cancels = countSince(facts.orderCancellations, 90);
  set('order_cancellations', cancels.length, `${plural(cancels.length, 'order')} cancelled in the last 90 days`);

  // subscriptions
  const subscriptions = before(facts.subscriptions, (s) => s[0], asOf);
  const downgrades = subscriptions.filter((s) => s[1] === 'downgrade' && s[0] >= since(180));
  set(
    'downgrades',
    downgrades.length,
    downgrades.length > 0 ? `downgraded plan on ${day(downgrades[downgrades.length - 1][0])}` : 'no downgrade in 180 days',
  );
  const lastStart = subscriptions.filter((s) => s[1] !== 'cancel').pop();
  const lastCancel = subscriptions.filter((s) => s[1] === 'cancel').pop();
  const cancelled = lastCancel !== undefined && (lastStart === undefined || lastStart[0] <= lastCancel[0]);
  set(
    'subscription_cancelled',
    cancelled ? 1 : 0,
    cancelled ? `subscription cancelled on ${day(lastCancel[0])}` : 'no cancelled subscription',
  );
  const active = lastStart !== undefined && !cancelled;
  set('active_subscription', active ? 1 : 0, active ? 'has an active subscription' : 'no active subscription');
  const unsubscribes = countSince(facts.unsubscribes, 180);
  set(
    'unsubscribed',
    unsubscribes.length > 0 ? 1 : 0,
    unsubscribes.length > 0
      ? `unsubscribed from a campaign on ${day(unsubscribes[unsubscribes.length - 1])}`
      : 'no unsubscribe in 180 days',
  );
  set('no_purchase_history', purchases.length === 0 ? 1 : 0, purchases.length === 0 ? 'has never bought' : 'has bought before');
  return { values: v, reasons: r };
}

/**
 * Did the customer stay a customer in [from, to)? A purchase or a subscription start or change in
 * the window, or a subscription that was active through it (started before, not cancelled by `to`).
 * The label the model is trained on and the backtest checks against.
 */
export function retainedIn(facts: ChurnFacts, from: number, to: number): boolean {
  if (facts.purchases.some(([at]) => at >= from && at < to)) return true;
  let active = false;
  for (const [at, mark] of facts.subscriptions) {
    if (at >= to) break;
    if (at >= from && mark !== 'cancel') return true;
    active = mark !== 'cancel';
  }
  return active;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
