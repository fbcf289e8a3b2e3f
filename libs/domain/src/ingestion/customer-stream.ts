import type { DomainEvent, TouchpointCommand } from '../events';
import { deterministicUuid } from '../ids';
import { decideIngest, type CustomerStreamState } from './decide-ingest';

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
