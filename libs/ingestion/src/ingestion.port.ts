import type { FieldError, TouchpointCommand } from '@cem/domain';

/** Outcome of validating one raw envelope (already parsed from JSON). */
export type EnvelopeValidation<C> = { ok: true; command: C } | { ok: false; errors: FieldError[] };

/**
 * The write side as a consumer of an outside feed sees it (the Kafka consumer; the same DTO
 * validation and append path as HTTP). Kept this small so a consumer loop can be tested against a
 * double and wired to IngestionService by a thin adapter.
 */
export interface IngestionPort<C = TouchpointCommand> {
  /** Edge validation of one envelope; field errors name the field and the reason. */
  validate(raw: unknown): EnvelopeValidation<C>;
  /**
   * Identity-resolves and durably appends the commands, all or none, idempotently by eventId (a
   * redelivered command is a no-op). Resolves only once the events are durable. Throws an error for
   * which `isTransientStoreError` (@cem/event-store) is true when the store is unavailable right now.
   */
  append(commands: C[]): Promise<void>;
  /** Optional override of the default classification, isTransientStoreError. */
  isTransient?(error: unknown): boolean;
}
