import type { EventStore, RecordedEvent } from '@cem/event-store';
import { readCustomerLog } from '../audit/customer-log';
import { CustomerStates, mergeFactsOf } from '../kit/customer-states';
import { toProjectedRecord } from '../projector/projection-lane';
import { customer360Model } from './customer-360.model';
import { toRow } from './customer-360.projection';
import { toView, type CustomerLookup, type Customer360View } from './customer-360.query';
import { evolveCustomer360 } from './evolve';

/**
 * The two ways to look at a customer at a past instant T:
 * - `occurred`: everything that happened by T (occurredAt <= T), including events recorded after T
 *   (late events, backfills), with the customers known to be one today (every merge recorded so far);
 * - `recorded`: what the platform knew at T: only events recorded by T (recordedAt <= T), and only the
 *   merges recorded by T.
 */
export const AS_OF_BASES = ['occurred', 'recorded'] as const;
export type AsOfBasis = (typeof AS_OF_BASES)[number];

/** Whether an event of the customer's log counts in the view at `at` (epoch ms) on the given basis. */
function countsAt(e: RecordedEvent, at: number, by: AsOfBasis): boolean {
  if (by === 'recorded') return Date.parse(e.recordedAt) <= at;
  // a merge is the platform's knowledge that two customers are one person, not something that
  // happened to the customer: on event time, identity is as known now
  if (e.type === 'customers.merged' || e.type === 'customer.merged-into') return true;
  return Date.parse((e.metadata as { occurredAt?: string }).occurredAt ?? '') <= at;
}

/**
 * Folds one customer's log (readCustomerLog: its stream and the streams merged into it, in log order)
 * into its 360 view at `at`, with the projection's own code (the customer-keyed kit routes merges,
 * evolveCustomer360 folds events, toView evaluates stage and case ages at `at`): the same view the
 * live read model would have shown with these events. Undefined when no event counts by then.
 */
export function customer360AsOf(
  customerId: string,
  events: readonly RecordedEvent[],
  at: number,
  by: AsOfBasis,
): Customer360View | undefined {
  const states = new CustomerStates(customer360Model);
  let counted = 0;
  for (const e of events) {
    if (!countsAt(e, at, by)) continue;
    const record = toProjectedRecord(e);
    if (!mergeFactsOf(record)) counted++;
    const route = states.route(record);
    if (route.kind === 'event') evolveCustomer360(route.owner, record);
  }
  if (counted === 0) return undefined;
  const state = states.get(customerId);
  return toView(state, toRow(state), at);
}

/** The 360 view of a customer at `at` on the given basis, read from the log only (never the read models). */
export async function customer360AsOfFromLog(store: EventStore, customerId: string, at: number, by: AsOfBasis): Promise<CustomerLookup> {
  const log = await readCustomerLog(store, customerId, by === 'recorded' ? { recordedBy: at } : {});
  if (log.kind !== 'found') return log;
  const view = customer360AsOf(customerId, log.events, at, by);
  return view ? { kind: 'found', view } : { kind: 'not-found' };
}
