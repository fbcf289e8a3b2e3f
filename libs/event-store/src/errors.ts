import type { ExpectedRevision } from './port';

export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** -1 when the stream does not exist */
    readonly actual: number,
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${actual < 0 ? 'no stream' : actual}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

export class StreamNotFoundError extends Error {
  constructor(readonly streamId: string) {
    super(`stream ${streamId} not found`);
    this.name = 'StreamNotFoundError';
  }
}

/** The same eventId was appended before with different content: a sender bug, never silently merged. */
export class EventIdConflictError extends Error {
  constructor(
    readonly eventId: string,
    readonly existingStreamId: string,
  ) {
    super(`eventId ${eventId} was already recorded with different content`);
    this.name = 'EventIdConflictError';
  }
}

/** The store cannot be reached right now; the caller may retry later (HTTP 503). */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * One event is larger than the store takes in one append (EventStoreDB's MaxAppendSize: data +
 * metadata + 2 bytes per character of the type). Nothing of the call was written; no retry helps.
 */
export class EventTooLargeError extends Error {
  constructor(
    readonly eventId: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`event ${eventId} is ${size} bytes as stored; the event store takes at most ${limit} bytes per append`);
    this.name = 'EventTooLargeError';
  }
}

/** Why the store keeps refusing an operation until an operator acts. */
export type StoreRefusal = 'stream-deleted' | 'access-denied' | 'stream-truncated' | 'append-too-large';

/**
 * The store refuses the operation for a reason no retry fixes (a stream deleted or truncated by an
 * operator, missing rights, a server limit): the caller gets a clear failure (HTTP 500 naming the
 * reason, a Kafka dead letter after its attempts), never a silent partial write.
 */
export class StoreRefusedError extends Error {
  constructor(
    readonly reason: StoreRefusal,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StoreRefusedError';
  }
}
