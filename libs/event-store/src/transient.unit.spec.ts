import { DeadlineExceededError, StreamNotFoundError, UnavailableError, UnknownError } from '@eventstore/db-client';
import { EventTooLargeError, StoreRefusedError, StoreUnavailableError, WrongExpectedRevisionError } from './errors';
import { isTransientStoreError } from './transient';

/** A transient failure is retried in place (the Kafka consumer waits, never dead-letters it). */
describe('isTransientStoreError: the one classification of store failures', () => {
  const grpc = (code: number) => Object.assign(new Error(`grpc ${code}`), { code, details: 'from the server' });

  it.each([
    [new StoreUnavailableError('down'), true],
    [new WrongExpectedRevisionError('s', 3, 4), true],
    [Object.assign(new Error('x'), { name: 'StoreUnavailableError' }), true],
    [Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }), true],
    [Object.assign(new Error('disk I/O'), { code: 'SQLITE_IOERR_WRITE' }), true],
    [Object.assign(new Error('wrapped'), { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }), true],
    [Object.assign(new Error('serialization'), { code: '40001' }), true],
    [Object.assign(new Error('conflict'), { name: 'IngestConflictError' }), false],
    [new TypeError('bug'), false],
    [Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }), false],
    [null, false],
    ['a string', false],
  ])('%s -> %s', (error, transient) => {
    expect(isTransientStoreError(error)).toBe(transient);
  });

  it('takes what client 6.x makes of BatchAppend\'s "not ready / busy / no leader" (an UnknownError without a code) as transient', () => {
    for (const m of ['Server Is Not Ready', 'Server Is Busy', 'Server Is Too Busy', 'No leader info available in response'])
      expect(isTransientStoreError(new UnknownError(undefined, `Could not recognize ${m}`))).toBe(true);
    expect(isTransientStoreError(new UnknownError(undefined, 'Could not recognize Something Else'))).toBe(false);
  });

  it('never retries a refusal only an operator or the sender can lift', () => {
    expect(isTransientStoreError(new StoreRefusedError('stream-deleted', 'tombstoned'))).toBe(false);
    expect(isTransientStoreError(new StoreRefusedError('access-denied', 'no read on $all'))).toBe(false);
    expect(isTransientStoreError(new EventTooLargeError('e', 2_000_000, 1_048_576))).toBe(false);
  });

  it('takes the gRPC statuses EventStoreDB answers when it is not there (one list, shared with the adapter)', () => {
    // CANCELLED (server shutting down), DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE
    for (const code of [1, 4, 8, 10, 13, 14]) expect(isTransientStoreError(grpc(code))).toBe(true);
    // INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNIMPLEMENTED, UNAUTHENTICATED
    for (const code of [3, 5, 7, 12, 16]) expect(isTransientStoreError(grpc(code))).toBe(false);
    // a bare number is no gRPC status
    expect(isTransientStoreError(Object.assign(new Error('n'), { code: 14 }))).toBe(false);
  });

  it('takes the EventStoreDB client errors that mean "not reachable now", not the others', () => {
    expect(isTransientStoreError(new UnavailableError(grpc(14) as never))).toBe(true);
    expect(isTransientStoreError(new DeadlineExceededError(grpc(4) as never))).toBe(true);
    expect(isTransientStoreError(new StreamNotFoundError(grpc(5) as never))).toBe(false);
    expect(isTransientStoreError(Object.assign(new Error('wrapped'), { cause: new UnavailableError(grpc(14) as never) }))).toBe(true);
  });
});
