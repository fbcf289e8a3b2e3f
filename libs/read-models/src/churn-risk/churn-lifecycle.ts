import { CHURN_AFTER_DAYS, lifecycleStage, npsCategory, type LifecycleFacts, type LifecycleStage } from '../customer-360/lifecycle';
import type { ChurnFacts } from './churn-facts';

const iso = (at: number | undefined): string | null => (at === undefined ? null : new Date(at).toISOString());

/**
 * The customer's lifecycle stage at `asOf`, from the facts that occurred before it. The customer 360
 * keeps the same facts only as of now (a latest-NPS, a last-seen instant), so an at-risk list at a
 * past instant could not filter by stage from it without leaking later events; the churn facts carry
 * every instant, and the rules stay the customer 360's own (lifecycle.ts), not a copy. At now the
 * stage equals the customer 360's (a test checks it on seeded data); events at the same instant are
 * ordered by content here and by log position there, the only place the two could differ.
 */
export function lifecycleStageAt(facts: ChurnFacts, asOf: number): LifecycleStage {
  return lifecycleStage(lifecycleFactsAt(facts, asOf), asOf);
}

export function lifecycleFactsAt(facts: ChurnFacts, asOf: number): LifecycleFacts {
  let lastSeen: number | undefined;
  for (const at of facts.touches) if (at < asOf) lastSeen = at;

  let firstCommercial: number | undefined;
  let lastWin: number | undefined;
  const firstPurchase = facts.purchases[0]?.[0];
  let lastPurchase: number | undefined;
  for (const [at] of facts.purchases) if (at < asOf) lastPurchase = at;
  if (firstPurchase !== undefined && firstPurchase < asOf) firstCommercial = firstPurchase;
  lastWin = lastPurchase;

  const subs = subscriptionsAt(facts, asOf, firstCommercial, lastWin);
  firstCommercial = subs.firstCommercial;
  lastWin = subs.lastWin;
  const { lastCancel, status } = subs;

  let nps: number | undefined;
  for (const [at, score] of facts.surveys) {
    if (at >= asOf) break;
    if (score >= 0) nps = score;
  }
  let lastComplaint: number | undefined;
  for (const at of facts.complaints) if (at < asOf) lastComplaint = at;

  return {
    lastSeenAt: iso(lastSeen),
    firstCommercialAt: iso(firstCommercial),
    lastWinAt: iso(lastWin),
    lastCancelAt: iso(lastCancel),
    activeSubscriptions: [...status.values()].filter(Boolean).length,
    npsCategory: nps === undefined ? null : npsCategory(nps),
    lastComplaintAt: iso(lastComplaint),
  };
}

/**
 * The subscriptions before `asOf`, on top of what the purchases gave (first commercial instant, last
 * win): a subscription's status is set by its latest event (started / changed -> active, cancelled ->
 * cancelled). One fold for lifecycleFactsAt and isLiveAt, so the two cannot drift apart.
 */
function subscriptionsAt(facts: ChurnFacts, asOf: number, firstCommercial: number | undefined, lastWin: number | undefined) {
  let lastCancel: number | undefined;
  const status = new Map<string, boolean>();
  for (const [at, mark, subscriptionId] of facts.subscriptions) {
    if (at >= asOf) break;
    status.set(subscriptionId, mark !== 'cancel');
    if (mark === 'start') {
      firstCommercial = firstCommercial === undefined ? at : Math.min(firstCommercial, at);
      lastWin = lastWin === undefined ? at : Math.max(lastWin, at);
    } else if (mark === 'cancel') {
      lastCancel = at;
    }
  }
  return { firstCommercial, lastWin, lastCancel, status };
}

const DAY_MS = 86_400_000;

// toISOString writes the years 0000 to 9999 with four digits: in that range its text compares as the instant does
const ISO_FIRST = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const ISO_LAST = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
const isoComparable = (at: number | undefined): boolean => at === undefined || (at >= ISO_FIRST && at <= ISO_LAST);

/**
 * Whether the customer is live at `asOf` (a stage other than prospect and churned): lifecycleStageAt's
 * answer to that question on the instants themselves, without the ISO strings, NPS and complaints that
 * only choose between live stages. lifecycleLiveChanges asks it at every candidate instant of every
 * changed customer (most of the experience metrics' lifecycle time); an instant outside the years
 * 0000-9999, where the strings would compare otherwise, asks lifecycleStageAt itself.
 */
export function isLiveAt(facts: ChurnFacts, asOf: number): boolean {
  let lastSeen: number | undefined;
  for (const at of facts.touches) if (at < asOf) lastSeen = at;
  const firstPurchase = facts.purchases[0]?.[0];
  let firstCommercial = firstPurchase !== undefined && firstPurchase < asOf ? firstPurchase : undefined;
  let lastWin: number | undefined;
  for (const [at] of facts.purchases) if (at < asOf) lastWin = at;
  const subs = subscriptionsAt(facts, asOf, firstCommercial, lastWin);
  firstCommercial = subs.firstCommercial;
  lastWin = subs.lastWin;
  const { lastCancel, status } = subs;
  const churnCut = asOf - CHURN_AFTER_DAYS * DAY_MS;
  if (![asOf, churnCut, lastSeen, lastWin, lastCancel].every(isoComparable)) {
    const stage = lifecycleStageAt(facts, asOf);
    return stage !== 'prospect' && stage !== 'churned';
  }
  if (firstCommercial === undefined) return false; // prospect
  let active = 0;
  for (const on of status.values()) if (on) active++;
  const allCancelled = active === 0 && lastCancel !== undefined && (lastWin === undefined || lastCancel >= lastWin);
  return !((lastSeen !== undefined && lastSeen <= churnCut) || allCancelled);
}

/** An instant (epoch ms) at which the customer became a live customer (`live`) or stopped being one (churned). */
export interface LiveChange {
  at: number;
  live: boolean;
  /** true for a churn by inactivity (CHURN_AFTER_DAYS after the last touch), not caused by an event */
  byTime: boolean;
}

/**
 * When the customer's lifecycle stage entered or left the live stages (anything but prospect and
 * churned), by the customer 360's rules (lifecycleStageAt), at millisecond resolution: the stage at
 * t reads the facts before t, so an event at e changes it from e + 1 ms, and CHURN_AFTER_DAYS of
 * silence after a touch at t churns the customer at exactly t + CHURN_AFTER_DAYS. The stage can
 * change only at those instants, so it is evaluated there (every touch, hence every event, is one).
 * In time order, alternating, starting with a `live` one.
 */
export function lifecycleLiveChanges(facts: ChurnFacts): LiveChange[] {
  // Where live-ness can change (a subset of every touch + 1 ms and + CHURN_AFTER_DAYS, which the int
  // test's recomputation evaluates in full): a purchase or subscription event (prospect to live, a
  // cancellation, a win after one), the first touch after CHURN_AFTER_DAYS of silence (back from a
  // churn by silence), and the end of such a silence. Plain touches while live, prospect or churned
  // by cancellation change nothing, so most events are not evaluated (each evaluation is O(facts)).
  const gap = CHURN_AFTER_DAYS * DAY_MS;
  const touches = facts.touches;
  const candidates = new Set<number>();
  for (let i = 0; i < touches.length; i++) {
    if (i === 0 || touches[i] - touches[i - 1] >= gap) candidates.add(touches[i] + 1);
    if (i === touches.length - 1 || touches[i + 1] - touches[i] >= gap) candidates.add(touches[i] + gap);
  }
  for (const [at] of facts.purchases) candidates.add(at + 1);
  for (const [at] of facts.subscriptions) candidates.add(at + 1);
  const changes: LiveChange[] = [];
  let live = false;
  let lastTouch = Number.NEGATIVE_INFINITY;
  let next = 0;
  for (const at of [...candidates].sort((a, b) => a - b)) {
    while (next < facts.touches.length && facts.touches[next] < at) lastTouch = facts.touches[next++];
    const now = isLiveAt(facts, at);
    if (now === live) continue;
    live = now;
    changes.push({ at, live, byTime: !live && at === lastTouch + CHURN_AFTER_DAYS * DAY_MS });
  }
  return changes;
}
