import { StoreUnavailableError, WrongExpectedRevisionError } from './errors';
import { isEsdbUnavailable } from './esdb/errors';

/** Errors of ours that say "not now": the store is unreachable, or another writer moved a stream first. */
const TRANSIENT_NAMES = new Set(['StoreUnavailableError', 'WrongExpectedRevisionError']);

/** Error codes of the drivers under a store (SQLite, Node sockets and files, PostgreSQL) that pass with time. */
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
  // PostgreSQL: connection exceptions, insufficient resources, serialization/deadlock, shutdown
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
const TRANSIENT_SQLITE_EXTENDED = /^SQLITE_(BUSY|LOCKED|IOERR)_/;

/**
 * The one classification of store failures: true when retrying the same call later can succeed
 * without a fix (the store or a connection is down, busy or out of space; EventStoreDB's gRPC
 * statuses of that kind; a concurrency conflict). Follows `cause` a few levels. Used by every
 * caller that decides between "wait and retry" and "give up" (the Kafka consumer, the EventStoreDB
 * adapter's error mapping and subscription).
 */
export function isTransientStoreError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof StoreUnavailableError || e instanceof WrongExpectedRevisionError) return true;
    const { name, code } = e as { name?: unknown; code?: unknown };
    if (typeof name === 'string' && TRANSIENT_NAMES.has(name)) return true;
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || TRANSIENT_SQLITE_EXTENDED.test(code))) return true;
    if (isEsdbUnavailable(e)) return true;
  }
  return false;
}
