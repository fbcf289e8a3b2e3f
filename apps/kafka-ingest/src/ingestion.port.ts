import type { FieldError } from '@cem/domain';

/** Outcome of validating one raw envelope (already parsed from JSON). */
export type EnvelopeValidation<C> = { ok: true; command: C } | { ok: false; errors: FieldError[] };

/**
 * What kafka-ingest needs from the shared ingestion service (the same one HTTP uses). Kept this
 * small so the consumer loop can be tested against a double and wired to the real service by a thin
 * adapter (see ./ingestion.adapter.ts).
 */
export interface IngestionPort<C = unknown> {
  /** Edge validation of one envelope; field errors name the field and the reason. */
  validate(raw: unknown): EnvelopeValidation<C>;
  /**
   * Identity-resolves and durably appends the commands, all or none, idempotently by eventId (a
   * redelivered command is a no-op). Resolves only once the events are durable.
   * Throws an error for which `isTransientFailure` is true when the store is unavailable right now.
   */
  append(commands: C[]): Promise<void>;
  /** Optional override of the default classification below. */
  isTransient?(error: unknown): boolean;
}

const TRANSIENT_NAMES = new Set(['StoreUnavailableError', 'WrongExpectedRevisionError', 'TransientIngestionError']);
const TRANSIENT_CODES = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_PROTOCOL',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOSPC',
  'EMFILE',
  // PostgreSQL: connection exceptions, insufficient resources, serialization/deadlock
  '08000',
  '08001',
  '08003',
  '08006',
  '53000',
  '53100',
  '53300',
  '40001',
  '40P01',
  '57P01',
  '57P03',
]);
/** gRPC UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED (EventStoreDB client) */
const TRANSIENT_GRPC = new Set([14, 4, 8, 10]);

/**
 * A failure is transient when retrying the same input later can succeed without a fix: the store
 * or a connection is down, busy or out of space, or a concurrency conflict. Transient failures make
 * the consumer wait and retry; they never send anything to the dead-letter topic.
 */
export function isTransientFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, code } = e as { name?: unknown; code?: unknown };
    if (typeof name === 'string' && TRANSIENT_NAMES.has(name)) return true;
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || /^SQLITE_(BUSY|LOCKED|IOERR)_/.test(code))) return true;
    if (typeof code === 'number' && TRANSIENT_GRPC.has(code) && (e as { details?: unknown }).details !== undefined) return true;
  }
  return false;
}

/** Thrown by an adapter to mark a failure as transient explicitly. */
export class TransientIngestionError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'TransientIngestionError';
  }
}
