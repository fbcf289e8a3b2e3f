import type { KafkaMessage } from 'kafkajs';
import { DLQ_HEADERS, parseDeadLetter, toDeadLetterMessage } from './dead-letter';

describe('dead-letter records', () => {
  it('keep the original bytes and headers and round-trip the error and source', () => {
    const original = {
      key: Buffer.from('ana@example.com'),
      value: Buffer.from('{"not": "valid'),
      headers: { 'trace-id': Buffer.from('t-1'), 'dlq.reason': Buffer.from('stale header from an earlier failure') },
      offset: '41',
      timestamp: '1790000000000',
      attributes: 0,
      size: 0,
    } as unknown as KafkaMessage;
    const error = {
      reason: 'validation' as const,
      message: 'eventId: must be a UUID',
      errors: [{ field: 'eventId', reason: 'must be a UUID' }],
    };
    const m = toDeadLetterMessage({ topic: 'cem.touchpoints.v1', partition: 2, message: original }, error, {
      groupId: 'g',
      attempts: 1,
      now: new Date('2026-11-22T10:00:00Z'),
    });
    expect(m.value).toBe(original.value);
    expect(m.key).toBe(original.key);
    expect(m.headers![DLQ_HEADERS.reason]).toBe('validation');

    const asRead = {
      ...original,
      offset: '7',
      headers: Object.fromEntries(Object.entries(m.headers!).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(String(v))])),
    } as unknown as KafkaMessage;
    const record = parseDeadLetter(0, asRead);
    expect(record).toMatchObject({
      dlqPartition: 0,
      dlqOffset: '7',
      error,
      source: { topic: 'cem.touchpoints.v1', partition: 2, offset: '41', timestamp: '1790000000000' },
      failedAt: '2026-11-22T10:00:00.000Z',
      groupId: 'g',
      attempts: 1,
    });
    expect(Object.keys(record.originalHeaders)).toEqual(['trace-id']);
  });
});
