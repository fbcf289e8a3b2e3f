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

  describe('a case is a case (issue 11)', () => {
    const T = (day: number) => `2026-02-${String(day).padStart(2, '0')}T00:00:00.000Z`;
    const absorb = (survivor: Customer360State, merged: Customer360State) =>
      absorbCustomer(survivor, merged, {
        kind: 'absorbed',
        mergeId: 'm',
        mergedIds: [merged.customerId],
        at: T(28),
        position: 9e6,
        rule: 'r',
        survivorRule: 's',
        identifiers: [],
      });
    const permutations = <X>(xs: X[]): X[][] =>
      xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));

    it('repeated and late case.opened events make one case, opened at its earliest event, and never reopen it', () => {
      const s = fold(emptyCustomer360('a'), [
        event('case.assigned', T(2), { caseId: 'K', team: 'first-line' }), // the export's first row is not the opening
        event('case.opened', T(3), { caseId: 'K', category: 'billing', priority: 'high' }),
        event('case.resolved', T(5), { caseId: 'K' }),
        event('case.opened', T(6), { caseId: 'K', category: 'delivery' }), // a row-by-row mapping's repeat
        event('case.opened', T(3), { caseId: 'K', category: 'billing', priority: 'high' }), // the same row again
      ]);
      expect(Object.keys(s.cases)).toEqual(['K']);
      expect(s.cases.K).toMatchObject({ openedAt: T(2), status: 'resolved', statusAt: T(5), category: 'billing', priority: 'high' });
      expect(s.cases.K.firstContactResolution).toBeUndefined(); // not known: not made up
      expect(toRow(s).open_cases).toBe(0);
    });

    it('follows the lifecycle a ticketing system records: assigned, status changes, resolved, closed, reopened', () => {
      const s = fold(emptyCustomer360('a'), [
        event('case.opened', T(1), { caseId: 'L' }),
        event('case.assigned', T(1), { caseId: 'L', assignee: 'agent-7', team: 'billing' }),
        event('case.status-changed', T(2), { caseId: 'L', status: 'waiting' }),
      ]);
      expect(s.cases.L).toMatchObject({ status: 'open', workStatus: 'waiting', assignee: 'agent-7', team: 'billing' });
      expect(toRow(s).open_cases).toBe(1);
      fold(s, [
        event('case.assigned', T(3), { caseId: 'L', assignee: 'agent-9' }), // the latest assignment, as sent
        event('case.resolved', T(4), { caseId: 'L', firstContactResolution: false }),
      ]);
      expect(s.cases.L).toMatchObject({ status: 'resolved', assignee: 'agent-9', firstContactResolution: false });
      expect(s.cases.L.workStatus).toBeUndefined();
      expect(s.cases.L.team).toBeUndefined();
      fold(s, [event('case.closed', T(5), { caseId: 'L' })]);
      expect(s.cases.L).toMatchObject({ status: 'closed', statusAt: T(5), firstContactResolution: false });
      expect(toRow(s).open_cases).toBe(0); // neither resolved nor closed cases are open
      fold(s, [event('case.reopened', T(6), { caseId: 'L' })]);
      expect(s.cases.L).toMatchObject({ status: 'open', reopens: 1 });
      fold(s, [event('case.status-changed', T(7), { caseId: 'L', status: 'in-progress' }), event('case.closed', T(8), { caseId: 'L' })]);
      expect(s.cases.L).toMatchObject({ status: 'closed', openedAt: T(1) });
      // a status change after a resolution puts the case back to work: open
      fold(s, [event('case.status-changed', T(9), { caseId: 'L', status: 'pending-customer' })]);
      expect(s.cases.L).toMatchObject({ status: 'open', workStatus: 'pending-customer' });
    });

    it('the case state is the same whatever the order the events arrive in, and whichever customer held them before a merge', () => {
      const events = [
        event('case.opened', T(3), { caseId: 'M', category: 'billing' }),
        event('case.status-changed', T(4), { caseId: 'M', status: 'on-hold' }),
        event('case.assigned', T(4), { caseId: 'M', assignee: 'agent-1' }),
        event('case.resolved', T(6), { caseId: 'M', firstContactResolution: true }),
        event('case.opened', T(7), { caseId: 'M', category: 'other' }),
        event('case.closed', T(8), { caseId: 'M' }),
      ];
      const reference = fold(emptyCustomer360('a'), events).cases;
      expect(reference.M).toMatchObject({
        status: 'closed',
        openedAt: T(3),
        category: 'billing',
        assignee: 'agent-1',
        firstContactResolution: true,
      });
      for (const order of permutations(events)) {
        expect(fold(emptyCustomer360('a'), order).cases).toEqual(reference);
        const survivor = fold(emptyCustomer360('a'), order.slice(0, 3));
        absorb(survivor, fold(emptyCustomer360('b'), order.slice(3)));
        expect(survivor.cases).toEqual(reference);
      }
    });
  });

  describe('registeredAt is never later than firstSeenAt (issue 11)', () => {
    const registered = (at: string) => event('customer.registered', at, { customerId: 'a', identifiers: [] });
    const touch = (at: string) => event('web.visited', at, { url: 'https://example.com/' });

    it('takes the first touch point when the registration (the first event ingested) happened later', () => {
      const orders = [
        [registered('2026-03-05T00:00:00.000Z'), touch('2026-03-05T00:00:00.000Z'), touch('2026-03-01T00:00:00.000Z')],
        [touch('2026-03-01T00:00:00.000Z'), registered('2026-03-05T00:00:00.000Z'), touch('2026-03-05T00:00:00.000Z')],
      ];
      for (const order of orders) {
        const s = fold(emptyCustomer360('a'), order);
        expect([s.registeredAt, s.firstSeenAt]).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
      }
      expect(fold(emptyCustomer360('a'), [touch('2026-03-01T00:00:00.000Z')]).registeredAt).toBeNull(); // no registration, no date
    });

    it('keeps an earlier registration, and holds across a merge', () => {
      const a = fold(emptyCustomer360('a'), [registered('2026-03-02T00:00:00.000Z'), touch('2026-03-04T00:00:00.000Z')]);
      expect(a.registeredAt).toBe('2026-03-02T00:00:00.000Z');
      absorbCustomer(a, fold(emptyCustomer360('b'), [touch('2026-03-01T00:00:00.000Z')]), {
        kind: 'absorbed',
        mergeId: 'm',
        mergedIds: ['b'],
        at: '2026-03-09T00:00:00.000Z',
        position: 99,
        rule: 'r',
        survivorRule: 's',
        identifiers: [],
      });
      expect([a.registeredAt, a.firstSeenAt]).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    });
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
