import type { EventType } from '@cem/domain';
import type { ProjectedRecord } from '../projector/projected-record';
import { emptyCustomer360, type Customer360State } from './customer-360.state';
import { absorbCustomer, evolveCustomer360 } from './evolve';
import { netValueOf, toRow } from './customer-360.projection';

let position = 0;
// loose on purpose: these tests build payloads by hand, the typed record is what evolve sees
const event = (type: EventType, occurredAt: string, data: unknown, extra: Record<string, unknown> = {}): ProjectedRecord =>
  ({
    position: ++position,
    eventId: `e${position}`,
    type,
    streamId: 'customer-a',
    revision: position,
    data,
    metadata: { schemaVersion: 1, occurredAt, customerId: 'a', source: 'test', channel: 'web', ...extra } as ProjectedRecord['metadata'],
    recordedAt: '2026-01-01T00:00:00.000Z',
  }) as ProjectedRecord;
const fold = (state: Customer360State, events: ProjectedRecord[]) => {
  for (const e of events) evolveCustomer360(state, e);
  return state;
};

describe('customer 360 evolve', () => {
  it('a late event does not overwrite newer facts', () => {
    const s = fold(emptyCustomer360('a'), [
      event('survey.answered', '2026-03-01T00:00:00.000Z', { nps: 9 }),
      event('consent.changed', '2026-03-01T00:00:00.000Z', { purpose: 'marketing-email', granted: false }),
      // arrives later, happened earlier
      event('survey.answered', '2026-01-01T00:00:00.000Z', { nps: 2, csat: 4 }),
      event('consent.changed', '2026-01-01T00:00:00.000Z', { purpose: 'marketing-email', granted: true }),
    ]);
    expect(s.lastSeenAt).toBe('2026-03-01T00:00:00.000Z');
    expect(s.firstSeenAt).toBe('2026-01-01T00:00:00.000Z');
    expect(s.nps?.value).toBe(9);
    expect(s.csat?.value).toBe(4); // the only csat answer, however old
    expect(s.consents['marketing-email'].value).toBe(false);
  });

  it('a case resolved before the (late) event that opened it stays resolved', () => {
    const s = fold(emptyCustomer360('a'), [
      event('case.resolved', '2026-02-02T00:00:00.000Z', { caseId: 'K', firstContactResolution: true }),
      event('case.opened', '2026-02-01T00:00:00.000Z', { caseId: 'K', category: 'billing' }),
    ]);
    expect(s.cases.K).toMatchObject({ status: 'resolved', openedAt: '2026-02-01T00:00:00.000Z', category: 'billing' });
  });

  it('an escalation is not a status change: a resolved case escalated later stays resolved until a case.reopened', () => {
    const s = fold(emptyCustomer360('a'), [
      event('case.opened', '2026-02-01T00:00:00.000Z', { caseId: 'E', category: 'billing' }),
      event('case.resolved', '2026-02-02T00:00:00.000Z', { caseId: 'E', firstContactResolution: false }),
      event('case.escalated', '2026-02-03T00:00:00.000Z', { caseId: 'E', level: 2 }),
    ]);
    expect(s.cases.E).toMatchObject({ status: 'resolved', statusAt: '2026-02-02T00:00:00.000Z', escalations: 1, reopens: 0 });
    fold(s, [event('case.reopened', '2026-02-04T00:00:00.000Z', { caseId: 'E' })]);
    expect(s.cases.E).toMatchObject({ status: 'open', escalations: 1, reopens: 1 });
    // a case known only through an escalation is open until one of its status events says otherwise
    const t = fold(emptyCustomer360('a'), [event('case.escalated', '2026-02-03T00:00:00.000Z', { caseId: 'F', level: 3 })]);
    expect(t.cases.F).toMatchObject({ status: 'open', openedAt: '2026-02-03T00:00:00.000Z', escalations: 1 });
    fold(t, [event('case.resolved', '2026-02-01T00:00:00.000Z', { caseId: 'F' })]); // late, and earlier than the escalation
    expect(t.cases.F).toMatchObject({ status: 'resolved', openedAt: '2026-02-01T00:00:00.000Z' });
  });

  it('absorbing a merged customer equals folding both histories into one state', () => {
    const aEvents = [
      event('purchase.completed', '2026-01-05T00:00:00.000Z', { orderId: 'o1', amount: 10.1, currency: 'EUR' }),
      event('subscription.started', '2026-01-06T00:00:00.000Z', { subscriptionId: 'S', plan: 'basic' }),
    ];
    const bEvents = [
      event(
        'purchase.completed',
        '2026-01-02T00:00:00.000Z',
        { orderId: 'o2', amount: 0.2, currency: 'EUR' },
        { identifiers: [{ kind: 'phone', value: '+31612345678' }] },
      ),
      event('subscription.cancelled', '2026-01-07T00:00:00.000Z', { subscriptionId: 'S' }),
      event('survey.answered', '2026-01-08T00:00:00.000Z', { nps: 6 }),
    ];
    const merged = fold(emptyCustomer360('a'), aEvents);
    absorbCustomer(merged, fold(emptyCustomer360('b'), bEvents), {
      kind: 'absorbed',
      mergeId: 'm',
      mergedIds: ['b'],
      at: '2026-01-09T00:00:00.000Z',
      position: 99,
      rule: 'r',
      survivorRule: 's',
      identifiers: [],
    });
    const together = fold(emptyCustomer360('a'), [...aEvents, ...bEvents]);
    const { merges, lastPosition, ...rest } = merged;
    const { merges: _m, lastPosition: _p, ...expected } = together;
    expect(rest).toEqual(expected);
    expect(merged.money.EUR.purchased).toBe(103_000); // 10.1 + 0.2 exactly, in 1/10,000 units
    expect(merged.subscriptions.S.status).toBe('cancelled');
    expect(merges).toHaveLength(1);
  });

  describe('money sums stay exact (issue 10, finding 7)', () => {
    const purchases = (amounts: number[]) =>
      fold(
        emptyCustomer360('a'),
        amounts.map((amount, i) => event('purchase.completed', '2026-01-01T00:00:00.000Z', { orderId: `o${i}`, amount, currency: 'EUR' })),
      );

    it('sums thousands of 4-decimal amounts exactly', () => {
      const amounts = Array.from({ length: 5000 }, (_, i) => Number(`${i % 997}.${String((i * 7919) % 10_000).padStart(4, '0')}`));
      const exactUnits = amounts.reduce((s, a) => s + BigInt(Math.round(a * 10_000)), 0n);
      const s = purchases(amounts);
      expect(typeof s.money.EUR.purchased).toBe('number');
      expect(BigInt(s.money.EUR.purchased)).toBe(exactUnits);
      expect(Number.isSafeInteger(s.money.EUR.purchased)).toBe(true);
    });

    it('keeps summing exactly past 2^53 units (the largest amounts, many times), and the net value stays a finite number', () => {
      const s = purchases(Array.from({ length: 100 }, () => 99_999_999_999.9999));
      expect(String(s.money.EUR.purchased)).toBe('99999999999999900'); // 100 x 999,999,999,999,999 units
      expect(netValueOf(s)).toBe(Number('9999999999999.99'));
      fold(s, [event('refund.issued', '2026-01-02T00:00:00.000Z', { amount: 0.0001, currency: 'EUR' })]);
      expect(netValueOf(s)).toBe(Number('9999999999999.9899'));
      expect(JSON.parse(JSON.stringify(s)).money.EUR).toEqual(s.money.EUR); // the stored document keeps it exact
    });

    it('an out-of-range amount already in the log (accepted before the bounds) never yields a non-finite value', () => {
      const s = purchases([1e308, 1e308]);
      const row = toRow(s);
      expect(Number.isFinite(row.net_value)).toBe(true);
      expect(JSON.parse(row.doc).money.EUR).toEqual({ purchased: s.money.EUR.purchased, refunded: 0 });
      expect(typeof s.money.EUR.purchased).toBe('string');
    });

    it('merges add exact sums', () => {
      const a = purchases(Array.from({ length: 60 }, () => 99_999_999_999.9999));
      const b = purchases(Array.from({ length: 40 }, () => 99_999_999_999.9999));
      absorbCustomer(a, b, {
        kind: 'absorbed',
        mergeId: 'm',
        mergedIds: ['b'],
        at: '2026-01-09T00:00:00.000Z',
        position: 9e6,
        rule: 'r',
        survivorRule: 's',
        identifiers: [],
      });
      expect(String(a.money.EUR.purchased)).toBe('99999999999999900');
    });
  });
});
