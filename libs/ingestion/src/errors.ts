import type { FieldError } from '@cem/domain';
import { StoreUnavailableError } from '@cem/event-store';

/** A problem with one event of a batch: its index in the batch, its eventId when known, the field, why. */
export interface EventError extends FieldError {
  index: number;
  eventId?: string;
}

/** The batch was refused whole because these events are invalid; nothing was written. */
export class IngestValidationError extends Error {
  constructor(readonly errors: EventError[]) {
    super(
      `${errors.length} validation error(s): ${errors
        .slice(0, 3)
        .map((e) => `[${e.index}] ${e.field}: ${e.reason}`)
        .join('; ')}`,
    );
    this.name = 'IngestValidationError';
  }
}

/** An eventId was already recorded with different content; nothing of the batch was written. */
export class IngestConflictError extends Error {
  constructor(readonly errors: EventError[]) {
    super(errors.map((e) => `[${e.index}] ${e.field}: ${e.reason}`).join('; '));
    this.name = 'IngestConflictError';
  }
}

/** Thrown by an ingestion adapter to mark a failure as transient explicitly (a StoreUnavailableError: retry later). */
export class TransientIngestionError extends StoreUnavailableError {
  constructor(message: string, cause?: unknown) {
    super(message, cause);
    this.name = 'TransientIngestionError';
  }
}
