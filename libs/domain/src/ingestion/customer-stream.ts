import type { DomainEvent, TouchpointCommand } from '../events';
import { deterministicUuid } from '../ids';
import { decideIngest, decideRegistration, type CustomerStreamState } from './decide-ingest';

/**
 * A decider: the state of a stream is folded from its events with `evolve`, and `decide` turns a
 * command and that state into the events to append. Pure: no I/O, ids and time come in.
 */
export interface Decider<Command, State, Event> {
  readonly initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

/** Record one validated touch-point event for the customer the identity registry resolved it to. */
export interface RecordTouchpoint {
  customerId: string;
  touchpoint: TouchpointCommand;
}

/** Id of a customer's `customer.registered` event: one per customer, whoever writes it first. */
export const registrationEventId = (customerId: string): string => deterministicUuid('customer.registered', customerId);

/**
 * The customer stream's decider. Its state is only the stream's revision (see docs/write-side.md):
 * the one decision that depends on the stream is "register the customer first when the stream is
 * new", and the append's expected revision guards it, so the write path reads the head revision
 * (not the events) and folds what it appends on top of it.
 */
export const customerStream: Decider<RecordTouchpoint, CustomerStreamState, DomainEvent> = {
  initialState: { revision: -1 },
  decide: ({ customerId, touchpoint }, state) =>
    // the registration id is only needed (and only hashed) when the stream is new
    decideIngest(touchpoint, state, { customerId, registrationEventId: state.revision < 0 ? registrationEventId(customerId) : '' }),
  evolve: (state) => ({ revision: state.revision + 1 }),
};

/**
 * The events a merge puts on one customer stream (the survivor's `customers.merged` or a merged-away
 * customer's `customer.merged-into`). A stream that does not exist yet gets the customer's
 * registration first, so every customer stream starts with one: the writer that registered that
 * customer in the identity registry may not have appended yet (another process, between its
 * resolve and its append) or may have crashed in between. That registration is caused by the merge
 * and names no identifiers: the customer's touch points carry them.
 */
export function decideMergeEventOnStream(customerId: string, event: DomainEvent, state: CustomerStreamState): DomainEvent[] {
  if (state.revision >= 0) return [event];
  const registration = decideRegistration({
    customerId,
    registrationEventId: registrationEventId(customerId),
    identifiers: [],
    occurredAt: event.metadata.occurredAt,
    source: event.metadata.source,
    causationId: event.eventId,
  });
  return [registration, event];
}
