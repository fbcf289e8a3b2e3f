import { ErrorType, isCommandError } from '@eventstore/db-client';
import { StoreRefusedError, StoreUnavailableError, StreamNotFoundError, WrongExpectedRevisionError } from '../errors';
import type { ExpectedRevision } from '../port';
import { INTERNAL_STREAM_PREFIX } from './naming';

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

/**
 * What the server answers through BatchAppend when it cannot take a write right now (its
 * `NotHandled` reasons: not ready, too busy, not leader without leader info): a status without a code
 * and with an empty detail, which client 6.x turns into an `UnknownError` whose message is all that
 * is left ("Could not recognize Server Is Not Ready").
 */
const NOT_HANDLED_MESSAGE = /Server Is Not Ready|Server Is (Too )?Busy|No leader info available/i;

export function isWrongExpectedVersion(err: unknown): err is { type: string; actualVersion: bigint | string } {
  return err instanceof Error && isCommandError(err) && err.type === ErrorType.WRONG_EXPECTED_VERSION;
}

export function isMaxAppendSizeExceeded(err: unknown): boolean {
  return err instanceof Error && isCommandError(err) && err.type === ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED;
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
    if (err.type === ErrorType.UNKNOWN)
      return UNAVAILABLE_GRPC_CODES.has(Number((err as { code?: number }).code)) || NOT_HANDLED_MESSAGE.test(err.message);
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
  if (err instanceof StoreUnavailableError || err instanceof StoreRefusedError) return err;
  const name = safeStreamName(streamId);
  if (isEsdbUnavailable(err)) {
    const detail = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError(`EventStoreDB unavailable (stream ${name}): ${detail}`, err);
  }
  if (err instanceof Error && isCommandError(err)) {
    switch (err.type) {
      case ErrorType.STREAM_DELETED:
        return new StoreRefusedError(
          'stream-deleted',
          `EventStoreDB: stream ${name} was deleted (tombstoned) by an operator; it can never be written or read again (see docs/eventstoredb.md, operator rules)`,
          err,
        );
      case ErrorType.ACCESS_DENIED:
        return new StoreRefusedError(
          'access-denied',
          `EventStoreDB denied access to ${name}: the user of ESDB_CONNECTION_STRING needs read and write on the platform's streams and read on $all (see docs/eventstoredb.md)`,
          err,
        );
      case ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED:
        return new StoreRefusedError('append-too-large', `EventStoreDB refused an append to ${name} over its MaxAppendSize`, err);
    }
  }
  return err;
}

/**
 * A stream name fit for an error message: identifier reservation streams carry the identifier
 * (an email, a phone number), which is personal data and stays out of messages and logs.
 */
export function safeStreamName(streamId: string): string {
  const identifierPrefix = `${INTERNAL_STREAM_PREFIX}identifier-`;
  return streamId.startsWith(identifierPrefix) ? `${identifierPrefix}…` : streamId;
}
