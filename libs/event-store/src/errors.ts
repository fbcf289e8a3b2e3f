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
