import { randomUUID } from 'node:crypto';

/** A valid raw envelope as an integration would send it; override any part. */
export function envelope(overrides: Record<string, unknown> = {}): Record<string, any> {
  return {
    eventId: randomUUID(),
    type: 'contact.handled',
    occurredAt: '2026-11-20T09:15:00+01:00',
    source: 'genesys',
    channel: 'phone',
    customer: { identifiers: [{ kind: 'email', value: `c-${randomUUID()}@example.com` }] },
    data: { direction: 'inbound', handleSeconds: 320, waitSeconds: 40, resolved: true },
    ...overrides,
  };
}

/** Fixed clock used with the envelopes above: a day after their occurredAt. */
export const TEST_NOW = Date.parse('2026-11-21T12:00:00Z');
