import { StoreRefusedError, StoreUnavailableError } from '@cem/event-store';
import { toErrorBody } from './error.filter';

describe('event store failures over HTTP', () => {
  it('answers a transient store failure 503 with Retry-After', () => {
    const { status, body, headers } = toErrorBody(new StoreUnavailableError('EventStoreDB unavailable: Server Is Not Ready'));
    expect(status).toBe(503);
    expect(body.error).toBe('store_unavailable');
    expect(headers).toEqual({ 'retry-after': '5' });
  });

  it('answers a permanent refusal 500 naming the reason, without echoing stream names', () => {
    const { status, body, headers } = toErrorBody(
      new StoreRefusedError('stream-deleted', 'EventStoreDB: stream customer-123 was deleted (tombstoned) by an operator'),
    );
    expect(status).toBe(500);
    expect(body).toMatchObject({ statusCode: 500, error: 'store_refused' });
    expect(body.message).toMatch(/\(stream-deleted\).*operator/);
    expect(body.message).not.toContain('customer-123');
    expect(headers).toBeUndefined();
  });
});
