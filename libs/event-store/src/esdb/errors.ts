import { ErrorType, isCommandError } from '@eventstore/db-client';
import { StoreUnavailableError, StreamNotFoundError, WrongExpectedRevisionError } from '../errors';
import type { ExpectedRevision } from '../port';

/** gRPC status codes that mean "the server is not there right now" (the call may be retried). */
const UNAVAILABLE_GRPC_CODES = new Set([
  1, // CANCELLED by the server (shutting down); a client-side cancel never reaches here
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  13, // INTERNAL: the connection broke mid-call
  14, // UNAVAILABLE
]);

const UNAVAILABLE_TYPES = new Set<string>([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.CANCELLED,
  ErrorType.NOT_LEADER,
]);

export function isWrongExpectedVersion(err: unknown): err is { type: string; actualVersion: bigint | string } {
  return err instanceof Error && isCommandError(err) && err.type === ErrorType.WRONG_EXPECTED_VERSION;
}

export function isStreamNotFound(err: unknown): boolean {
  return err instanceof Error && isCommandError(err) && err.type === ErrorType.STREAM_NOT_FOUND;
}

/**
 * true when an error of the EventStoreDB client (or a bare gRPC status error: a numeric `code` with
 * `details`) says the server could not be reached or dropped the call. The EventStoreDB part of
 * isTransientStoreError (../transient.ts), which is what callers use.
 */
export function isEsdbUnavailable(err: unknown): boolean {
  if (err instanceof Error && isCommandError(err)) {
    if (UNAVAILABLE_TYPES.has(err.type)) return true;
    if (err.type === ErrorType.UNKNOWN) return UNAVAILABLE_GRPC_CODES.has(Number((err as { code?: number }).code));
    return false;
  }
  const { code, details } = (err ?? {}) as { code?: unknown; details?: unknown };
  return typeof code === 'number' && details !== undefined && UNAVAILABLE_GRPC_CODES.has(code);
}

/** Maps an error of `@eventstore/db-client` to the port's errors; anything else is returned unchanged. */
export function mapEsdbError(err: unknown, streamId: string, expected: ExpectedRevision = 'any'): unknown {
  if (isWrongExpectedVersion(err)) {
    const actual = err.actualVersion === 'no_stream' ? -1 : Number(err.actualVersion);
    return new WrongExpectedRevisionError(streamId, expected, actual);
  }
  if (isStreamNotFound(err)) return new StreamNotFoundError(streamId);
  if (err instanceof StoreUnavailableError) return err;
  if (isEsdbUnavailable(err)) {
    const detail = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError(`EventStoreDB unavailable (stream ${streamId}): ${detail}`, err);
  }
  return err;
}
