import type { Channel, EventType, PayloadOf, TouchpointType } from './catalogue/catalogue';
import type { Identifier } from './identity/identifier';

/**
 * Metadata every event of ours carries in the store, next to `type` and `data`.
 * `occurredAt` is when it happened in the world; the store records its own `recordedAt`.
 */
export interface EventMetadata {
  schemaVersion: number;
  occurredAt: string;
  customerId: string;
  source: string;
  channel?: Channel;
  /** normalised identifiers the sender named (personal data) */
  identifiers?: Identifier[];
  agentId?: string;
  correlationId?: string;
  causationId?: string;
  /**
   * Set by identity resolution when the event named identifiers of customers an unmerge keeps
   * apart: the event was recorded on the first of them without merging them again (for review)
   */
  identityConflict?: string[];
}

/** A domain event as decided, before it is stored. Discriminated by `type`. */
export type DomainEvent<T extends EventType = EventType> = {
  [K in T]: { eventId: string; type: K; data: PayloadOf<K>; metadata: EventMetadata };
}[T];

/** A validated, normalised touch-point event as it enters the write side. */
export interface TouchpointCommand<T extends TouchpointType = TouchpointType> {
  eventId: string;
  type: T;
  schemaVersion: number;
  occurredAt: string;
  source: string;
  channel: Channel;
  identifiers: Identifier[];
  agentId?: string;
  correlationId?: string;
  causationId?: string;
  data: PayloadOf<T>;
}

/** The prefix of every customer stream: `customer-<customerId>`. */
export const CUSTOMER_STREAM_PREFIX = 'customer-';
export const customerStreamId = (customerId: string): string => `${CUSTOMER_STREAM_PREFIX}${customerId}`;
export const customerIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith(CUSTOMER_STREAM_PREFIX) ? streamId.slice(CUSTOMER_STREAM_PREFIX.length) : undefined;
