import { customerStreamId } from '@cem/domain';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/** GET /v1/customers/{id}?asOf=...&by=occurred|recorded: the 360 view at a past instant, from the log. */
describe('customer 360 as of a past instant (API)', () => {
  let api: ApiHarness;
  let carla: string;
  let dan: string;
  /** an instant after the first events were recorded and before the late ones and the merge */
  let before: string;
  const email = { kind: 'email', value: 'carla@example.com' };
  const phone = { kind: 'phone', value: '+31622223333' };

  async function ingest(events: Record<string, unknown>[]) {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(res.statusCode).toBe(200);
    return res.json().results as { customerId: string; position: number }[];
  }
  const get = (url: string, key: string | null = KEYS.analyst) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  beforeAll(async () => {
    api = await startApi();
    const [first] = await ingest([
      envelope({
        customer: { identifiers: [email] },
        type: 'purchase.completed',
        channel: 'web',
        occurredAt: '2026-11-01T10:00:00Z',
        data: { orderId: 'o1', amount: 100, currency: 'EUR' },
      }),
      envelope({
        customer: { identifiers: [email] },
        type: 'survey.answered',
        channel: 'email',
        occurredAt: '2026-11-05T10:00:00Z',
        data: { nps: 9 },
      }),
    ]);
    carla = first.customerId;
    const [d] = await ingest([envelope({ customer: { identifiers: [phone] }, occurredAt: '2026-11-06T10:00:00Z' })]);
    dan = d.customerId;
    // the instant the platform had recorded these, and nothing later: wait for the clock to pass it
    const recorded = Math.max(...(await api.platform.store.readAll()).map((e) => Date.parse(e.recordedAt)));
    while (Date.now() <= recorded) await new Promise((r) => setTimeout(r, 1));
    before = new Date(recorded).toISOString();
    while (Date.now() <= recorded + 1) await new Promise((r) => setTimeout(r, 1));
    // late arrivals: they happened in October, they reach the platform now
    await ingest([
      envelope({
        customer: { identifiers: [email] },
        type: 'complaint.filed',
        channel: 'phone',
        occurredAt: '2026-10-20T10:00:00Z',
        data: { complaintId: 'x1', category: 'service' },
      }),
      envelope({
        customer: { identifiers: [email] },
        type: 'purchase.completed',
        channel: 'store',
        occurredAt: '2026-10-25T10:00:00Z',
        data: { orderId: 'o0', amount: 5, currency: 'EUR' },
      }),
    ]);
    // and carla turns out to be dan too: his history merges into hers (the customer registered first survives)
    const [both] = await ingest([envelope({ customer: { identifiers: [email, phone] }, occurredAt: '2026-11-10T10:00:00Z' })]);
    expect(both.customerId).toBe(carla);
  });
  afterAll(() => api.close());

  const asOf = (id: string, at: string, by?: string, key?: string | null) =>
    get(`/v1/customers/${id}?asOf=${encodeURIComponent(at)}${by ? `&by=${by}` : ''}`, key);

  it('by recorded time leaves out the late events that by event time includes', async () => {
    // independent: count the touch points of carla's streams plainly
    const log = (await api.platform.store.readAll()).filter(
      (e) => e.streamId === customerStreamId(carla) || e.streamId === customerStreamId(dan),
    );
    const touch = (e: (typeof log)[number]) => !['customer.registered', 'customers.merged', 'customer.merged-into'].includes(e.type);
    const recordedBefore = log.filter((e) => touch(e) && Date.parse(e.recordedAt) <= Date.parse(before));
    const occurredBefore = log.filter(
      (e) => touch(e) && Date.parse((e.metadata as { occurredAt: string }).occurredAt) <= Date.parse(before),
    );

    const byRecorded = await asOf(carla, before, 'recorded');
    expect(byRecorded.statusCode).toBe(200);
    // dan was not merged yet: only carla's own two events
    expect(byRecorded.json()).toMatchObject({
      customerId: carla,
      eventCount: 2,
      purchases: 1,
      complaints: { count: 0 },
      merges: [],
      churnRisk: { band: expect.any(String), model: { name: 'churn-risk-prior', version: 0 } },
    });
    expect(byRecorded.json().eventCount).toBe(recordedBefore.filter((e) => e.streamId === customerStreamId(carla)).length);
    expect(byRecorded.json().lifetimeValue).toEqual([{ currency: 'EUR', purchased: 100, refunded: 0, net: 100 }]);
    expect(byRecorded.json().firstSeenAt).toBe('2026-11-01T10:00:00.000Z');

    const byOccurred = await asOf(carla, before, 'occurred');
    expect(byOccurred.statusCode).toBe(200);
    expect(byOccurred.json()).toMatchObject({
      customerId: carla,
      purchases: 2,
      complaints: { count: 1 },
      firstSeenAt: '2026-10-20T10:00:00.000Z',
    });
    expect(byOccurred.json().eventCount).toBe(occurredBefore.length);
    expect(byOccurred.json().lifetimeValue).toEqual([{ currency: 'EUR', purchased: 105, refunded: 0, net: 105 }]);
    // by occurred is the default
    expect((await asOf(carla, before)).json()).toEqual(byOccurred.json());

    // in October only the late events had happened; nothing had been recorded then
    expect((await asOf(carla, '2026-10-31T00:00:00Z', 'occurred')).json()).toMatchObject({
      eventCount: 2,
      purchases: 1,
      complaints: { count: 1 },
    });
    const nothingYet = await asOf(carla, '2026-10-31T00:00:00Z', 'recorded');
    expect(nothingYet.statusCode).toBe(404);
    expect(nothingYet.json().message).toContain('recorded by');
  });

  it('follows merges as known at the instant: dan was his own customer before the merge was recorded', async () => {
    const then = await asOf(dan, before, 'recorded');
    expect(then.statusCode).toBe(200);
    expect(then.json()).toMatchObject({ customerId: dan, eventCount: 1, identifiers: { phone: ['+31622223333'] } });
    const now = new Date().toISOString();
    const merged = await asOf(dan, now, 'recorded');
    expect(merged.statusCode).toBe(307);
    expect(merged.headers.location).toBe(`/v1/customers/${carla}?asOf=${encodeURIComponent(now)}&by=recorded`);
  });

  it('as of now equals the live view (read models), churn risk included', async () => {
    const head = await api.platform.store.headPosition();
    const now = new Date().toISOString();
    const live = await get(`/v1/customers/${carla}?at=${encodeURIComponent(now)}&minPosition=${head}`);
    expect(live.statusCode).toBe(200);
    for (const by of ['recorded', 'occurred']) {
      const view = await asOf(carla, now, by);
      expect(view.statusCode).toBe(200);
      expect(view.json()).toEqual(live.json());
    }
    expect(live.json().eventCount).toBe(6);
    expect(live.json().churnRisk).toMatchObject({ band: expect.any(String), model: { name: 'churn-risk-prior', version: 0 } });
  });

  it('refuses a bad asOf or by by name, and the wrong roles', async () => {
    const cases: [string, string][] = [
      ['asOf=2026-13-01T00:00:00Z', 'asOf'],
      ['asOf=yesterday', 'asOf'],
      ['asOf=2026-11-01', 'asOf'],
      ['asOf=2999-01-01T00:00:00Z', 'asOf'],
      [`asOf=${encodeURIComponent(before)}&by=event`, 'by'],
      ['by=recorded', 'by'],
      [`asOf=${encodeURIComponent(before)}&at=${encodeURIComponent(before)}`, 'at'],
    ];
    for (const [q, field] of cases) {
      const res = await get(`/v1/customers/${carla}?${q}`);
      expect([q, res.statusCode, res.json().errors?.[0]?.field]).toEqual([q, 422, field]);
    }
    expect((await asOf('00000000-0000-4000-8000-000000000000', before, 'occurred')).statusCode).toBe(404);
    expect((await asOf(carla, before, 'recorded', KEYS.ops)).statusCode).toBe(200);
    expect((await asOf(carla, before, 'recorded', KEYS.ingest)).statusCode).toBe(403);
    expect((await asOf(carla, before, 'recorded', null)).statusCode).toBe(401);
  });
});
