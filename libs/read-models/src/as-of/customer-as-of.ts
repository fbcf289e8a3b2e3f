import {
  PLAIN_IDENTIFIER_INDEX,
  segmentStreamId,
  type ChurnModelFittedV1,
  type IdentifierIndex,
  type SegmentDefinition,
  type SegmentSetV1,
} from '@cem/domain';
import { StreamNotFoundError, type EventStore, type RecordedEvent } from '@cem/event-store';
import { readCustomerLog } from '../audit/customer-log';
import { churnFactsModel, foldChurnFacts } from '../churn-risk/churn-facts';
import { CHURN_MODEL_STREAM } from '../churn-risk/churn-model-log';
import { scoreChurnFacts, type ChurnScoreView } from '../churn-risk/churn-risk.query';
import { riskModelOf } from '../churn-risk/model/fit-churn-model';
import { PRIOR_MODEL } from '../churn-risk/model/prior-model';
import type { RiskModel } from '../churn-risk/model/risk-model';
import { customer360ModelFor } from '../customer-360/customer-360.model';
import { toRow } from '../customer-360/customer-360.projection';
import { toView, type Customer360View } from '../customer-360/customer-360.query';
import { evolveCustomer360 } from '../customer-360/evolve';
import { CustomerStates, mergeFactsOf } from '../kit/customer-states';
import { identifierIndexOfStore } from '../projector/projection';
import { toProjectedRecord } from '../projector/projection-lane';
import { evolveSegmentCustomer, segmentCustomerModel } from '../segments/segments.model';

/**
 * The two ways to look at a customer at a past instant T:
 * - `occurred`: everything that happened by T (occurredAt <= T), including events recorded after T
 *   (late events, backfills), with the customers known to be one today (every merge recorded so far);
 * - `recorded`: what the platform knew at T: only events recorded by T (recordedAt <= T), and only the
 *   merges recorded by T.
 */
export const AS_OF_BASES = ['occurred', 'recorded'] as const;
export type AsOfBasis = (typeof AS_OF_BASES)[number];

/** A customer as of T: its 360 view and its churn risk (null before its first touch point). */
export interface CustomerAsOf {
  view: Customer360View;
  churnRisk: ChurnScoreView | null;
  /** the segments it was in (segment.entered / segment.left counted by then), by segment id, with whether it held their consent */
  segments: { segmentId: string; since: string; consents: Record<string, boolean> }[];
}

export type CustomerAsOfLookup =
  ({ kind: 'found' } & CustomerAsOf) | { kind: 'merged'; customerId: string; survivorId: string } | { kind: 'not-found' };

/** Whether an event of the customer's log counts in the view at `at` (epoch ms) on the given basis. */
function countsAt(e: RecordedEvent, at: number, by: AsOfBasis): boolean {
  if (by === 'recorded') return Date.parse(e.recordedAt) <= at;
  // a merge is the platform's knowledge that two customers are one person, not something that
  // happened to the customer: on event time, identity is as known now
  if (e.type === 'customers.merged' || e.type === 'customer.merged-into' || e.type === 'customers.unmerged') return true;
  return Date.parse((e.metadata as { occurredAt?: string }).occurredAt ?? '') <= at;
}

/**
 * Folds one customer's log (readCustomerLog: its stream and the streams merged into it, in log order)
 * into its 360 view and churn facts at `at`, with the projections' own code (the customer-keyed kit
 * routes merges, evolveCustomer360 and foldChurnFacts fold events, toView and scoreChurnFacts
 * evaluate at `at`): the same answer the live read models give for these events. Undefined when no
 * event counts by then.
 */
export function customerAsOf(
  customerId: string,
  events: readonly RecordedEvent[],
  at: number,
  by: AsOfBasis,
  model: RiskModel,
  /** keys identifiers like the registry (the blind index with privacy on), as the live customer 360 does */
  identifierIndex: IdentifierIndex = PLAIN_IDENTIFIER_INDEX,
): CustomerAsOf | undefined {
  const views = new CustomerStates(customer360ModelFor(identifierIndex));
  const facts = new CustomerStates(churnFactsModel);
  const segments = new CustomerStates(segmentCustomerModel);
  let counted = 0;
  const records = events.filter((e) => countsAt(e, at, by)).map(toProjectedRecord);
  // an unmerge refolds its customers from the log before it: the log counted here
  for (const states of [views, facts, segments] as CustomerStates<never>[]) states.useHistoryFrom(records);
  for (const record of records) {
    if (!mergeFactsOf(record)) counted++;
    const route = views.route(record);
    if (route.kind === 'event') evolveCustomer360(route.owner, record);
    const factsRoute = facts.route(record);
    if (factsRoute.kind === 'event') foldChurnFacts(factsRoute.owner, record);
    const segmentsRoute = segments.route(record);
    if (segmentsRoute.kind === 'event') evolveSegmentCustomer(segmentsRoute.owner, record);
  }
  if (counted === 0) return undefined;
  const state = views.get(customerId);
  const memberships = segments.get(customerId);
  const consents = Object.fromEntries(Object.entries(memberships.consents).map(([purpose, c]) => [purpose, c.value]));
  return {
    view: toView(state, toRow(state), at),
    churnRisk: scoreChurnFacts(facts.get(customerId), model, at) ?? null,
    segments: Object.entries(memberships.memberships)
      .filter(([, m]) => m.member)
      .map(([segmentId, m]) => ({ segmentId, since: m.since!, consents }))
      .sort((a, b) => (a.segmentId < b.segmentId ? -1 : 1)),
  };
}

/**
 * The churn-risk model that scores at `at`: on recorded time the latest fitted by then (what the
 * platform scored with), on event time the latest fitted so far (as the live view); the prior before any.
 */
export async function churnModelAsOf(store: EventStore, at: number, by: AsOfBasis): Promise<RiskModel> {
  let fits: RecordedEvent[];
  try {
    fits = await store.readStream(CHURN_MODEL_STREAM);
  } catch (e) {
    if (e instanceof StreamNotFoundError) return PRIOR_MODEL;
    throw e;
  }
  const known = fits.filter((e) => e.type === 'churn-model.fitted' && (by === 'occurred' || Date.parse(e.recordedAt) <= at));
  return known.length === 0 ? PRIOR_MODEL : riskModelOf(known[known.length - 1].data as ChurnModelFittedV1);
}

/** A customer as of `at` on the given basis, read from the log only (never the read models). */
export async function customerAsOfFromLog(store: EventStore, customerId: string, at: number, by: AsOfBasis): Promise<CustomerAsOfLookup> {
  const log = await readCustomerLog(store, customerId, by === 'recorded' ? { recordedBy: at } : {});
  if (log.kind !== 'found') return log;
  const found = customerAsOf(customerId, log.events, at, by, await churnModelAsOf(store, at, by), identifierIndexOfStore(store));
  return found ? { kind: 'found', ...found } : { kind: 'not-found' };
}

/** The definition of each segment as of `at` on the given basis, from its stream (undefined: none by then). */
export async function segmentDefinitionsAsOf(
  store: EventStore,
  segmentIds: readonly string[],
  at: number,
  by: AsOfBasis,
): Promise<Map<string, SegmentDefinition | undefined>> {
  const out = new Map<string, SegmentDefinition | undefined>();
  for (const id of segmentIds) {
    let events: RecordedEvent[] = [];
    try {
      events = await store.readStream(segmentStreamId(id));
    } catch (e) {
      if (!(e instanceof StreamNotFoundError)) throw e;
    }
    const known = events.filter((e) => (e.type === 'segment.created' || e.type === 'segment.changed') && countsAt(e, at, by));
    out.set(id, known.length === 0 ? undefined : (known[known.length - 1].data as SegmentSetV1).segment);
  }
  return out;
}
