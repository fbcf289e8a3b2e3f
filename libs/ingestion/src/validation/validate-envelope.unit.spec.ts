import { envelope, TEST_NOW } from '../../../../test/support/envelopes';
import { validateEnvelope } from './validate-envelope';

const options = { now: () => TEST_NOW, maxFutureSkewMs: 5 * 60_000 };
const errorsOf = (raw: unknown) => {
  const out = validateEnvelope(raw, options);
  if (out.ok) throw new Error('expected validation errors');
  return out.errors;
};

describe('envelope validation', () => {
  it('accepts a valid event and normalises it', () => {
    const raw = envelope({
      eventId: 'A1B2C3D4-0000-4000-8000-000000000001',
      customer: {
        identifiers: [
          { kind: 'email', value: ' Ana@Example.COM ' },
          { kind: 'phone', value: '+31 20 123 4567' },
        ],
      },
    });
    const out = validateEnvelope(raw, options);
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.command).toMatchObject({
      eventId: 'a1b2c3d4-0000-4000-8000-000000000001',
      schemaVersion: 1,
      occurredAt: '2026-11-20T08:15:00.000Z',
      identifiers: [
        { kind: 'email', value: 'ana@example.com' },
        { kind: 'phone', value: '+31201234567' },
      ],
    });
  });

  it('lifts an old payload version to the latest on the way in', () => {
    const out = validateEnvelope(
      envelope({ type: 'survey.answered', schemaVersion: 1, data: { survey: 'nps', score: 2, comment: 'meh' } }),
      options,
    );
    expect(out.ok && out.command).toMatchObject({ schemaVersion: 2, data: { nps: 2, comment: 'meh' } });
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['unknown type', { type: 'teleport.completed' }, 'type', /must be one of contact.handled/],
    ['missing eventId', { eventId: undefined }, 'eventId', /is required/],
    ['invalid eventId', { eventId: 'abc' }, 'eventId', /must be a UUID/],
    ['occurredAt without offset', { occurredAt: '2026-11-20T09:15:00' }, 'occurredAt', /with an offset/],
    ['occurredAt not a date', { occurredAt: 'yesterday' }, 'occurredAt', /ISO-8601/],
    ['occurredAt impossible', { occurredAt: '2026-13-45T09:15:00Z' }, 'occurredAt', /not a valid date-time/],
    ['occurredAt in the future', { occurredAt: '2026-11-21T12:06:00Z' }, 'occurredAt', /300 s in the future/],
    ['empty identifiers', { customer: { identifiers: [] } }, 'customer.identifiers', /at least one identifier/],
    ['missing customer', { customer: undefined }, 'customer', /is required/],
    [
      'invalid email',
      { customer: { identifiers: [{ kind: 'email', value: 'ana@' }] } },
      'customer.identifiers.0.value',
      /not a valid email/,
    ],
    ['invalid phone', { customer: { identifiers: [{ kind: 'phone', value: '12' }] } }, 'customer.identifiers.0.value', /not a valid phone/],
    [
      'unknown identifier kind',
      { customer: { identifiers: [{ kind: 'ssn', value: '1' }] } },
      'customer.identifiers.0.kind',
      /must be one of email/,
    ],
    [
      'payload field of the wrong type',
      { data: { direction: 'inbound', handleSeconds: 'long', resolved: true } },
      'data.handleSeconds',
      /integer/,
    ],
    ['payload field out of range', { type: 'survey.answered', data: { nps: 11 } }, 'data.nps', /must not be greater than 10/],
    ['missing payload field', { data: { direction: 'inbound', resolved: true } }, 'data.handleSeconds', /is required/],
    [
      'unknown payload field',
      { data: { direction: 'inbound', handleSeconds: 1, resolved: true, mood: 'sunny' } },
      'data.mood',
      /not a known field/,
    ],
    ['unknown envelope field', { priority: 'high' }, 'priority', /not a known field/],
    ['unsupported schema version', { schemaVersion: 7 }, 'schemaVersion', /accepts versions 1/],
    ['bad channel', { channel: 'pigeon' }, 'channel', /must be one of phone/],
    ['survey without any score', { type: 'survey.answered', data: { comment: 'hi' } }, 'data.nps', /at least one of nps, csat, ces/],
    ['bad currency', { type: 'purchase.completed', data: { orderId: 'o1', amount: 10, currency: 'euro' } }, 'data.currency', /ISO-4217/],
    [
      'negative amount',
      { type: 'purchase.completed', data: { orderId: 'o1', amount: -1, currency: 'EUR' } },
      'data.amount',
      /not be less than 0/,
    ],
  ])('%s -> names the field and the reason', (_name, overrides, field, reason) => {
    const raw = envelope(overrides);
    for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete raw[k];
    const errors = errorsOf(raw);
    const hit = errors.find((e) => e.field === field);
    expect(hit).toBeDefined();
    expect(hit!.reason).toMatch(reason);
  });

  it('reports every problem of an event at once', () => {
    const errors = errorsOf(
      envelope({ eventId: 'x', channel: 'pigeon', data: { direction: 'sideways', handleSeconds: 1, resolved: true } }),
    );
    expect(errors.map((e) => e.field).sort()).toEqual(['channel', 'data.direction', 'eventId']);
  });

  it('refuses non-objects', () => {
    expect(errorsOf([1, 2])).toEqual([{ field: '', reason: 'an event must be a JSON object' }]);
    expect(errorsOf(null)[0].reason).toMatch(/JSON object/);
  });

  it('normalises identifiers that identifiers.linked links', () => {
    const out = validateEnvelope(
      envelope({ type: 'identifiers.linked', data: { identifiers: [{ kind: 'email', value: 'B@X.COM' }] } }),
      options,
    );
    expect(out.ok && out.command.data).toEqual({ identifiers: [{ kind: 'email', value: 'b@x.com' }] });
    const bad = errorsOf(envelope({ type: 'identifiers.linked', data: { identifiers: [{ kind: 'email', value: 'nope' }] } }));
    expect(bad).toEqual([{ field: 'data.identifiers.0.value', reason: 'is not a valid email address' }]);
  });
});
