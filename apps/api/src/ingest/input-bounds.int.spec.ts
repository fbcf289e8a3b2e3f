import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/** Issue 10, findings 6, 7 and 9: dates, amounts and identifier lengths at the HTTP edge. */
describe('HTTP input bounds: dates, money, identifier lengths', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi()));
  afterAll(() => api.close());

  const post = (payload: unknown) =>
    api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify(payload),
    });
  const get = (url: string) => api.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEYS.analyst}` } });
  const refused = async (event: Record<string, unknown>) => {
    const head = await api.platform.store.headPosition();
    const res = await post({ events: [envelope(), event] });
    expect(res.statusCode).toBe(422);
    expect(await api.platform.store.headPosition()).toBe(head);
    return (res.json().errors as { index: number; field: string; reason: string }[]).map((e) => `${e.index} ${e.field}: ${e.reason}`);
  };

  it('refuses an impossible occurredAt instead of moving it', async () => {
    expect(await refused(envelope({ occurredAt: '2026-02-30T00:00:00Z' }))).toEqual([
      expect.stringMatching(/^1 occurredAt: is not a real date-time/),
    ]);
  });

  it('refuses an impossible or future birthDate', async () => {
    const profile = (birthDate: string) => envelope({ type: 'profile.updated', data: { birthDate } });
    expect(await refused(profile('1990-02-30'))).toEqual([expect.stringMatching(/^1 data.birthDate: is not a real date/)]);
    expect(await refused(profile('2999-01-01'))).toEqual([expect.stringMatching(/^1 data.birthDate: is in the future/)]);
  });

  it('refuses an impossible lastSeenFrom / lastSeenTo / at', async () => {
    for (const param of ['lastSeenFrom', 'lastSeenTo', 'at']) {
      const res = await get(`/v1/customers?${param}=2026-02-30T00:00:00Z`);
      expect(res.statusCode).toBe(422);
      expect(res.json().errors).toEqual([expect.objectContaining({ field: param, reason: expect.stringMatching(/not a real date-time/) })]);
    }
    expect((await get('/v1/customers?lastSeenFrom=2024-02-29T00:00:00Z&lastSeenTo=2026-11-21T00:00:00%2B01:00')).statusCode).toBe(200);
  });

  it.each([
    [1e308, 'must not be greater than 100000000000'],
    [1e21, 'must not be greater than 100000000000'],
    [100_000_000_000.0001, 'must not be greater than 100000000000'],
    [0.00001, 'must have at most 4 decimal places'],
  ])('refuses amount %p naming the field', async (amount, reason) => {
    expect(await refused(envelope({ type: 'purchase.completed', data: { orderId: 'o', amount, currency: 'EUR' } }))).toEqual([
      `1 data.amount: ${reason}`,
    ]);
  });

  it('sums many 4-decimal amounts exactly in the 360 view, and the list shows the same finite net value', async () => {
    const customer = { identifiers: [{ kind: 'crm', value: 'MONEY-1' }] };
    const amounts = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? 99_999_999_999.9999 : Number(`${i}.${String((i * 37) % 10_000).padStart(4, '0')}`),
    );
    for (let i = 0; i < amounts.length; i += 100) {
      const events = amounts
        .slice(i, i + 100)
        .map((amount, j) => envelope({ customer, type: 'purchase.completed', data: { orderId: `o${i + j}`, amount, currency: 'EUR' } }));
      expect((await post({ events })).statusCode).toBe(200);
    }
    const refund = await post({ events: [envelope({ customer, type: 'refund.issued', data: { amount: 0.0001, currency: 'EUR' } })] });
    expect(refund.statusCode).toBe(200);
    const units = amounts.reduce((s, a) => s + BigInt(Math.round(a * 10_000)), 0n);
    const decimal = (u: bigint) => Number(`${u / 10_000n}.${String(u % 10_000n).padStart(4, '0')}`);
    const position = refund.json().results[0].position;
    const view = await get(`/v1/customers/lookup?identifier=crm:MONEY-1&minPosition=${position}`);
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({
      purchases: 300,
      valueSegment: 'strategic',
      lifetimeValue: [{ currency: 'EUR', purchased: decimal(units), refunded: 0.0001, net: decimal(units - 1n) }],
    });
    const list = await get(`/v1/customers?identifier=crm:MONEY-1&minPosition=${position}`);
    expect(list.json().items).toEqual([expect.objectContaining({ netValue: decimal(units - 1n) })]);
  });

  it('gives one identifier length message with the limit, whatever the length', async () => {
    for (const n of [250, 321, 5000]) {
      const errors = await refused(envelope({ customer: { identifiers: [{ kind: 'crm', value: 'C'.repeat(n) }] } }));
      expect(errors).toEqual(['1 customer.identifiers.0.value: must be 1-200 printable characters without spaces']);
    }
    for (const n of [250, 400]) {
      const res = await get(`/v1/customers/lookup?identifier=crm:${'C'.repeat(n)}`);
      expect(res.statusCode).toBe(422);
      expect(res.json().errors).toEqual([{ field: 'identifier', reason: 'must be 1-200 printable characters without spaces' }]);
    }
  });
});
