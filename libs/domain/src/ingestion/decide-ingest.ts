import type { Identifier } from '../identity/identifier';
import type { DomainEvent, TouchpointCommand } from '../events';

/** What the write side knows about the target customer stream when it decides. */
export interface CustomerStreamState {
  /** -1 when the stream does not exist yet */
  revision: number;
}

export interface IngestContext {
  customerId: string;
  /** id of the customer.registered event, chosen outside so decisions stay pure and replayable */
  registrationEventId: string;
}

/**
 * The decision for one touch-point event: record it on the customer's stream, and register the
 * customer first when the stream is new. Pure: ids and time come in through the command and context.
 */
export function decideIngest(command: TouchpointCommand, state: CustomerStreamState, ctx: IngestContext): DomainEvent[] {
  const events: DomainEvent[] = [];
  if (state.revision < 0) {
    events.push(
      decideRegistration({
        customerId: ctx.customerId,
        registrationEventId: ctx.registrationEventId,
        identifiers: command.identifiers,
        occurredAt: command.occurredAt,
        source: command.source,
        causationId: command.eventId,
      }),
    );
  }
  events.push({
    eventId: command.eventId,
    type: command.type,
    data: command.data,
    metadata: {
      schemaVersion: command.schemaVersion,
      occurredAt: command.occurredAt,
      customerId: ctx.customerId,
      source: command.source,
      channel: command.channel,
      identifiers: command.identifiers,
      agentId: command.agentId,
      correlationId: command.correlationId,
      causationId: command.causationId,
    },
  } as DomainEvent);
  return events;
}

/** The `customer.registered` event that opens a customer stream. */
export function decideRegistration(r: {
  customerId: string;
  registrationEventId: string;
  identifiers: Identifier[];
  occurredAt: string;
  source: string;
  causationId: string;
}): DomainEvent {
  return {
    eventId: r.registrationEventId,
    type: 'customer.registered',
    data: { customerId: r.customerId, identifiers: r.identifiers },
    metadata: {
      schemaVersion: 1,
      occurredAt: r.occurredAt,
      customerId: r.customerId,
      source: r.source,
      causationId: r.causationId,
      identifiers: r.identifiers,
    },
  };
}

/** Identifiers named by a command: the envelope's, plus those an `identifiers.linked` event links. */
export function identifiersOf(command: TouchpointCommand): Identifier[] {
  if (command.type === 'identifiers.linked') {
    const linked = (command.data as { identifiers: Identifier[] }).identifiers;
    const seen = new Set(command.identifiers.map((i) => `${i.kind}:${i.value}`));
    return [...command.identifiers, ...linked.filter((i) => !seen.has(`${i.kind}:${i.value}`))];
  }
  return command.identifiers;
}
