import { randomUUID } from 'node:crypto';
import { customerStreamId } from '@cem/domain';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

describe('audit trail API (GET /v1/audit/customers/{id})', () => {
  let api: ApiHarness;
  let survivorId: string;
  let mergedId: string;
  beforeAll(async () => {
    api = await startApi();
    const ana = { kind: 'email', value: 'audit-ana@example.com' };
    const phone = { kind: 'phone', value: '+31611112222' };
    const [first] = await ingest([
      envelope({
        customer: { identifiers: [ana] },
        type: 'purchase.completed',
        channel: 'web',
        occurredAt: '2026-11-01T10:00:00Z',
        agentId: 'agent-7',
        correlationId: 'order-1',
        causationId: 'cart-9',
        data: { orderId: 'o1', amount: 10, currency: 'EUR' },
      }),
    ]);
    const [second] = await ingest([envelope({ customer: { identifiers: [phone] }, occurredAt: '2026-11-02T10:00:00Z' })]);
    const [both] = await ingest([envelope({ customer: { identifiers: [ana, phone] }, occurredAt: '2026-11-03T10:00:00Z' })]);
    survivorId = both.customerId;
    mergedId = [first.customerId, second.customerId].find((id) => id !== survivorId)!;
    // a platform-written, customer-keyed event the audit code does not name: it appears all the same
    await api.platform.store.appendToStream(customerStreamId(survivorId), [
      {
        eventId: randomUUID(),
        type: 'churn-risk.changed',
        data: {
          customerId: survivorId,
          fromBand: null,
          band: 'high',
          probability: 0.6,
          logOdds: 0.4,
          asOf: '2026-11-20T00:00:00.000Z',
          model: { name: 'churn-risk', version: 1 },
          topFactors: ['recency'],
        },
        metadata: { schemaVersion: 1, occurredAt: '2026-11-20T00:00:00.000Z', customerId: survivorId, source: 'platform' },
      },
    ]);
  });
  afterAll(() => api.close());

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
  const get = (url: string, key: string | null = KEYS.ops) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it("holds both streams' events in log order, the merge events and system events, with every audit field as stored", async () => {
    const res = await get(`/v1/audit/customers/${survivorId}`);
    expect(res.statusCode).toBe(200);
    const trail = res.json();
    // independent: the whole log, filtered to the two streams
    const expected = (await api.platform.store.readAll()).filter((e) =>
      [customerStreamId(survivorId), customerStreamId(mergedId)].includes(e.streamId),
    );
    expect(trail).toMatchObject({ customerId: survivorId, mergedIds: [mergedId], total: expected.length });
    // the head when the trail was read; the read's own ops record follows it
    expect(trail.headPosition).toBe((await api.platform.store.headPosition()) - 1);
    expect(trail.nextAfter).toBeUndefined();
    expect(trail.events.map((e: { position: number }) => e.position)).toEqual(expected.map((e) => e.position));
    expect(trail.events.map((e: { type: string }) => e.type)).toEqual(expected.map((e) => e.type));
    expect(trail.events.map((e: { type: string }) => e.type)).toEqual(
      expect.arrayContaining([
        'customer.registered',
        'customers.merged',
        'customer.merged-into',
        'churn-risk.changed',
        'purchase.completed',
      ]),
    );
    expect(new Set(trail.events.map((e: { streamId: string }) => e.streamId))).toEqual(
      new Set([customerStreamId(survivorId), customerStreamId(mergedId)]),
    );
    const stored = expected.find((e) => e.type === 'purchase.completed')!;
    expect(trail.events.find((e: { type: string }) => e.type === 'purchase.completed')).toEqual({
      position: stored.position,
      eventId: stored.eventId,
      type: 'purchase.completed',
      schemaVersion: 1,
      occurredAt: '2026-11-01T10:00:00.000Z',
      recordedAt: stored.recordedAt,
      source: 'genesys',
      channel: 'web',
      agentId: 'agent-7',
      correlationId: 'order-1',
      causationId: 'cart-9',
      streamId: stored.streamId,
      revision: stored.revision,
      streamCustomerId: stored.streamId.slice('customer-'.length),
      identifiers: [{ kind: 'email', value: 'audit-ana@example.com' }],
      data: { orderId: 'o1', amount: 10, currency: 'EUR' },
    });
  });

  it('pages by position: nextAfter chains the pages to the whole trail', async () => {
    const whole = (await get(`/v1/audit/customers/${survivorId}`)).json();
    const positions: number[] = [];
    let url = `/v1/audit/customers/${survivorId}?limit=2`;
    for (let pages = 0; ; pages++) {
      const page = (await get(url)).json();
      expect(page.events.length).toBeLessThanOrEqual(2);
      positions.push(...page.events.map((e: { position: number }) => e.position));
      if (page.nextAfter === undefined) break;
      url = `/v1/audit/customers/${survivorId}?limit=2&after=${page.nextAfter}`;
      expect(pages).toBeLessThan(20);
    }
    expect(positions).toEqual(whole.events.map((e: { position: number }) => e.position));
  });

  it("answers a merged-away id with a 307 to the survivor's trail, an unknown id with 404", async () => {
    const res = await get(`/v1/audit/customers/${mergedId}`);
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe(`/v1/audit/customers/${survivorId}`);
    expect(res.json()).toMatchObject({ error: 'merged', customerId: mergedId, mergedInto: survivorId });
    expect((await get('/v1/audit/customers/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
  });

  it('records every read as an ops event naming the API key (never its secret), the customer, the page and the result', async () => {
    const opsEvents = async () => (await api.platform.store.readAll()).filter((e) => e.streamId === 'cem-ops');
    const before = (await opsEvents()).length;
    const page = await get(`/v1/audit/customers/${survivorId}?limit=2`);
    expect(page.statusCode).toBe(200);
    expect((await get(`/v1/audit/customers/${mergedId}`)).statusCode).toBe(307);
    expect((await get('/v1/audit/customers/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await get(`/v1/audit/customers/${survivorId}?limit=0`)).statusCode).toBe(422); // refused before anything was read: not recorded
    expect((await get(`/v1/audit/customers/${survivorId}`, KEYS.analyst)).statusCode).toBe(403);
    const recorded = (await opsEvents()).slice(before);
    expect(recorded.map((e) => e.data)).toEqual([
      expect.objectContaining({
        action: 'audit-customer',
        actor: { kind: 'api-key', name: 'configured key 3' },
        parameters: { customerId: survivorId, after: null, limit: 2 },
        result: 'ok',
        outcome: `served 2 of ${page.json().total} events`,
        figures: { events: 2, headPosition: page.json().headPosition },
      }),
      expect.objectContaining({
        parameters: { customerId: mergedId, after: null, limit: 500 },
        result: 'ok',
        outcome: `merged into ${survivorId}: redirected`,
      }),
      expect.objectContaining({
        parameters: { customerId: '00000000-0000-4000-8000-000000000000', after: null, limit: 500 },
        result: 'refused',
        outcome: 'no such customer',
      }),
    ]);
    for (const e of recorded) expect([e.metadata.source, JSON.stringify(e)]).toEqual(['cem/api', expect.not.stringContaining(KEYS.ops)]);
  });

  it('refuses bad paging parameters by name, and every role but ops', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'after=-1', 'after=', 'after=1e3', 'cursor=x']) {
      const res = await get(`/v1/audit/customers/${survivorId}?${q}`);
      expect([q, res.statusCode]).toEqual([q, 422]);
      expect(res.json().errors[0].field).toBe(q.split('=')[0]);
    }
    for (const key of [KEYS.analyst, KEYS.ingest]) expect((await get(`/v1/audit/customers/${survivorId}`, key)).statusCode).toBe(403);
    expect((await get(`/v1/audit/customers/${survivorId}`, null)).statusCode).toBe(401);
  });
});
