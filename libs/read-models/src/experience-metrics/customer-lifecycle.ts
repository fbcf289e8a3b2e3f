import { lifecycleLiveChanges, type LiveChange } from '../churn-risk/churn-lifecycle';
import { emptyChurnFacts, foldChurnFacts, type ChurnFacts } from '../churn-risk/churn-facts';
import { isTouchpointRecord, type ProjectedRecord } from '../projector/projected-record';
import type { BucketTotals, Counter } from './bucket-totals';
import { GRANULARITIES, type BucketNamer, type Granularity } from './time-buckets';

/*
 * Retention and churn from the customer 360's lifecycle rules (docs/experience-metrics.md). A
 * customer is *live* while its stage is neither prospect nor churned; lifecycleLiveChanges gives
 * the instants it became live (first purchase or subscription, or back after a churn) and stopped
 * being live (churned). Each customer contributes to the unsliced bucket rows of the buckets those
 * instants fall in; when its facts change (a new event, a late one, a merge) the projection takes
 * its old contribution away and adds the new one, as it does for cases.
 *
 * A churn by inactivity after the customer's last touch ("pending") is not in the rows: whether it
 * has happened depends on the clock, which a projection must not read. It is kept beside the rows
 * (em_lifecycle_pending) with what it adds to its buckets, and the query counts it once `now` has
 * reached it.
 */

/**
 * The facts the lifecycle rules read, per customer: the churn-risk model's facts (churn-facts.ts),
 * of which only touches, purchases and subscriptions are kept (the others decide between live
 * stages, never whether a customer is live).
 */
export type LifecycleFacts = ChurnFacts;

/** Stored form (em_customers.lifecycle): the kept lists, and the changes they gave (so the old contribution is not recomputed). */
interface StoredLifecycle {
  t: ChurnFacts['touches'];
  p: ChurnFacts['purchases'];
  s: ChurnFacts['subscriptions'];
  /** [at, live, pending] */
  c: [number, boolean, boolean][];
}

/** A live change (lifecycleLiveChanges); `pending`: the last one, a churn by silence after the last touch (counted by the clock). */
export interface LifecycleChange {
  at: number;
  live: boolean;
  pending: boolean;
}

export const lifecycleJson = (f: LifecycleFacts, changes: readonly LifecycleChange[]): string =>
  JSON.stringify({
    t: f.touches,
    p: f.purchases,
    s: f.subscriptions,
    c: changes.map((c) => [c.at, c.live, c.pending]),
  } satisfies StoredLifecycle);

/** The changes stored with the facts (none before any). */
export const storedChanges = (json: string | null): LifecycleChange[] =>
  json === null ? [] : (JSON.parse(json) as StoredLifecycle).c.map(([at, live, pending]) => ({ at, live, pending }));

/** The customer's changes now, from its facts. */
export function lifecycleChangesOf(facts: LifecycleFacts): LifecycleChange[] {
  if (facts.touches.length === 0) return [];
  const lastTouch = facts.touches[facts.touches.length - 1];
  const changes: LiveChange[] = lifecycleLiveChanges(facts);
  // a churn by silence followed by a touch (one that keeps the customer churned, a cancellation) has happened
  return changes.map((c, i) => ({ at: c.at, live: c.live, pending: i === changes.length - 1 && c.byTime && c.at > lastTouch }));
}

export function lifecycleOf(customerId: string, json: string | null): LifecycleFacts {
  const facts = emptyChurnFacts(customerId);
  if (json === null) return facts;
  const stored = JSON.parse(json) as StoredLifecycle;
  facts.touches = stored.t;
  facts.purchases = stored.p;
  facts.subscriptions = stored.s;
  return facts;
}

/** Folds a touch-point event into the customer's lifecycle facts (the lists not kept are dropped when stored). */
export function foldLifecycle(facts: LifecycleFacts, record: ProjectedRecord): void {
  // system events (milestones, churn-risk bands) are not touch points for the customer 360 either
  if (isTouchpointRecord(record)) foldChurnFacts(facts, record);
}

/** What a pending churn adds to the bucket of each granularity holding it, once it has happened. */
export interface PendingChurn {
  at: number;
  buckets: Record<Granularity, string>;
  /** 1 when the customer did not churn earlier in that bucket (churned customers are distinct per bucket) */
  churned: Record<Granularity, 0 | 1>;
  /** 1 when the customer was live at the start of that bucket (it is then lost in it) */
  lost: Record<Granularity, 0 | 1>;
}

export interface LifecycleContribution {
  /** `granularity|bucket` -> counters of the unsliced row */
  rows: Map<string, BucketTotals>;
  pending: PendingChurn | null;
}

type LifecycleCounter = Extract<
  Counter,
  'lifeStarts' | 'lifeEnds' | 'customersChurned' | 'customersLost' | 'customersAcquired' | 'customersWonBack'
>;

const bump = (rows: Map<string, BucketTotals>, key: string, counter: LifecycleCounter) => {
  let row = rows.get(key);
  if (!row) rows.set(key, (row = { c: {}, h: {} }));
  row.c[counter] = (row.c[counter] ?? 0) + 1;
};

/**
 * A customer's contribution: per granularity and bucket, its live starts (acquired: the first;
 * won back: the others) and ends (churns), whether it churned in the bucket (once per bucket),
 * and whether it was lost in it (live before the bucket, not live after its last change).
 */
export function lifecycleContribution(changes: readonly LifecycleChange[], namer: BucketNamer): LifecycleContribution {
  const last = changes[changes.length - 1];
  const pendingChange = last?.pending ? last : undefined;
  const settled: readonly LifecycleChange[] = pendingChange ? changes.slice(0, -1) : changes;
  const rows = new Map<string, BucketTotals>();
  const bucketsOf = settled.map((c) => namer.of(new Date(c.at).toISOString()));
  const pendingBuckets = pendingChange && namer.of(new Date(pendingChange.at).toISOString());
  const pending: PendingChurn | null = pendingBuckets
    ? { at: pendingChange.at, buckets: { ...pendingBuckets }, churned: { day: 1, week: 1, month: 1 }, lost: { day: 0, week: 0, month: 0 } }
    : null;
  for (const granularity of GRANULARITIES) {
    let live = false;
    let i = 0;
    while (i < settled.length) {
      const bucket = bucketsOf[i][granularity];
      const key = `${granularity}|${bucket}`;
      const liveBefore = live;
      let churned = false;
      for (; i < settled.length && bucketsOf[i][granularity] === bucket; i++) {
        const change = settled[i];
        live = change.live;
        if (change.live) {
          bump(rows, key, 'lifeStarts');
          bump(rows, key, i === 0 ? 'customersAcquired' : 'customersWonBack');
        } else {
          bump(rows, key, 'lifeEnds');
          churned = true;
        }
      }
      if (churned) bump(rows, key, 'customersChurned');
      if (liveBefore && !live) bump(rows, key, 'customersLost');
      if (pending && pending.buckets[granularity] === bucket) {
        // the pending churn falls in a bucket with settled changes: it adds a churned customer only if none
        // was counted here, and loses the customer only if it was live before the bucket
        pending.churned[granularity] = churned ? 0 : 1;
        pending.lost[granularity] = liveBefore ? 1 : 0;
      }
    }
    // a pending churn in a bucket of its own: the customer was live before it (it is the last change)
    if (pending && !bucketsOf.some((b) => b[granularity] === pending.buckets[granularity])) pending.lost[granularity] = 1;
  }
  return { rows, pending };
}

export const noLifecycleContribution = (): LifecycleContribution => ({ rows: new Map(), pending: null });
