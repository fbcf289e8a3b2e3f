import { lifecycleStage, npsCategory, type LifecycleFacts, type LifecycleStage } from '../customer-360/lifecycle';
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

  let lastCancel: number | undefined;
  // a subscription's status is set by its latest event: started / changed -> active, cancelled -> cancelled
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
