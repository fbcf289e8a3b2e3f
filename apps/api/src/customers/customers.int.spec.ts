import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

describe('customer 360 query API', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi()));
  afterAll(() => api.close());

  const get = (url: string, key: string | null = KEYS.analyst) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const ingest = async (events: Record<string, unknown>[]) => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(res.statusCode).toBe(200);
    return res.json().results as { customerId: string; position: number }[];
  };
  const who = (...ids: { kind: string; value: string }[]) => ({ customer: { identifiers: ids } });
  const ana = { kind: 'email', value: 'ana@example.com' };
  const anaPhone = { kind: 'phone', value: '+31612345678' };

  it('answers a customer by id and by identifier, read-your-writes through minPosition', async () => {
    const results = await ingest([
      envelope({
        ...who(ana),
        occurredAt: '2026-11-01T10:00:00Z',
        type: 'purchase.completed',
        channel: 'web',
        data: { orderId: 'o1', amount: 120.5, currency: 'EUR' },
      }),
      envelope({ ...who(ana), occurredAt: '2026-11-10T10:00:00Z', type: 'survey.answered', channel: 'email', data: { nps: 10, csat: 5 } }),
      envelope({
        ...who(ana),
        occurredAt: '2026-11-12T10:00:00Z',
        type: 'case.opened',
        channel: 'phone',
        data: { caseId: 'K1', priority: 'high' },
      }),
    ]);
    const last = results[results.length - 1];
    const byId = await get(`/v1/customers/${last.customerId}?minPosition=${last.position}`);
    expect(byId.statusCode).toBe(200);
    expect(byId.json()).toMatchObject({
      customerId: last.customerId,
      identifiers: { email: ['ana@example.com'] },
      firstSeenAt: '2026-11-01T10:00:00.000Z',
      lastSeenAt: '2026-11-12T10:00:00.000Z',
      eventCount: 3,
      channels: { web: 1, email: 1, phone: 1 },
      lifetimeValue: [{ currency: 'EUR', purchased: 120.5, refunded: 0, net: 120.5 }],
      scores: { nps: { score: 10, category: 'promoter' }, csat: { score: 5 } },
      openCases: [{ caseId: 'K1', openedAt: '2026-11-12T10:00:00.000Z', priority: 'high' }],
      valueSegment: 'low',
      churnRisk: { band: expect.stringMatching(/^(low|medium|high|critical)$/), model: { name: 'churn-risk-prior', version: 0 } },
    });
    const byIdentifier = await get(`/v1/customers/lookup?identifier=email:ANA@example.com`);
    expect(byIdentifier.statusCode).toBe(200);
    expect(byIdentifier.json().customerId).toBe(last.customerId);
    expect((await get('/v1/customers/lookup?identifier=email:nobody@example.com')).statusCode).toBe(404);
    expect((await get('/v1/customers/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    const bad = await get('/v1/customers/lookup?identifier=email:not-an-email');
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0]).toMatchObject({ field: 'identifier' });
  });

  it('shows who works an open case and where it stands; a closed case is no longer open', async () => {
    const bea = { kind: 'email', value: 'bea@example.com' };
    const at = (h: number) => `2026-11-1${h}T10:00:00Z`;
    await ingest([
      envelope({ ...who(bea), occurredAt: at(1), type: 'case.opened', channel: 'phone', data: { caseId: 'C7', category: 'billing' } }),
      envelope({
        ...who(bea),
        occurredAt: at(2),
        type: 'case.assigned',
        channel: 'phone',
        data: { caseId: 'C7', assignee: 'agent-9', team: 'tier-2' },
      }),
      envelope({
        ...who(bea),
        occurredAt: at(3),
        type: 'case.status-changed',
        channel: 'phone',
        data: { caseId: 'C7', status: 'waiting' },
      }),
      envelope({ ...who(bea), occurredAt: at(1), type: 'case.opened', channel: 'email', data: { caseId: 'C8' } }),
    ]);
    const [closed] = await ingest([
      envelope({ ...who(bea), occurredAt: at(4), type: 'case.closed', channel: 'email', data: { caseId: 'C8' } }),
    ]);
    const view = (await get(`/v1/customers/${closed.customerId}?minPosition=${closed.position}`)).json();
    expect(view.openCases).toEqual([
      expect.objectContaining({ caseId: 'C7', category: 'billing', assignee: 'agent-9', team: 'tier-2', workStatus: 'waiting' }),
    ]);
  });

  it('a late event does not move last seen backwards', async () => {
    const [late] = await ingest([
      envelope({
        ...who(ana),
        occurredAt: '2026-06-01T10:00:00Z',
        type: 'web.visited',
        channel: 'web',
        data: { url: 'https://x.example.com/' },
      }),
    ]);
    const res = await get(`/v1/customers/${late.customerId}?minPosition=${late.position}`);
    expect(res.json()).toMatchObject({ firstSeenAt: '2026-06-01T10:00:00.000Z', lastSeenAt: '2026-11-12T10:00:00.000Z', eventCount: 4 });
  });

  it('answers a merged-away id with a 307 pointer to the survivor, whose timeline holds both histories', async () => {
    const [phoneOnly] = await ingest([envelope({ ...who(anaPhone), occurredAt: '2026-11-15T10:00:00Z' })]);
    const [both] = await ingest([envelope({ ...who(ana, anaPhone), occurredAt: '2026-11-16T10:00:00Z' })]);
    expect(both.customerId).not.toBe(phoneOnly.customerId);
    const res = await get(`/v1/customers/${phoneOnly.customerId}?minPosition=${both.position}`);
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe(`/v1/customers/${both.customerId}`);
    expect(res.json()).toMatchObject({ error: 'merged', customerId: phoneOnly.customerId, mergedInto: both.customerId });
    const timelineRedirect = await get(`/v1/customers/${phoneOnly.customerId}/timeline`);
    expect(timelineRedirect.statusCode).toBe(307);
    expect(timelineRedirect.headers.location).toBe(`/v1/customers/${both.customerId}/timeline`);

    const survivor = (await get(`/v1/customers/${both.customerId}`)).json();
    expect(survivor.identifiers).toEqual({ email: ['ana@example.com'], phone: ['+31612345678'] });
    expect(survivor.eventCount).toBe(6);
    expect(survivor.merges).toEqual([
      expect.objectContaining({ kind: 'absorbed', mergedIds: [phoneOnly.customerId], rule: expect.any(String) }),
    ]);

    const seen: string[] = [];
    let url = `/v1/customers/${both.customerId}/timeline?limit=3`;
    for (;;) {
      const page = await get(url);
      expect(page.statusCode).toBe(200);
      const body = page.json();
      seen.push(...body.items.map((i: { occurredAt: string }) => i.occurredAt));
      if (!body.nextCursor) break;
      url = `/v1/customers/${both.customerId}/timeline?limit=3&cursor=${body.nextCursor}`;
    }
    expect(seen).toEqual([...seen].sort());
    expect(seen.length).toBeGreaterThanOrEqual(8); // 6 touch points, registrations and the merge
    expect((await get(`/v1/customers/${both.customerId}/timeline?cursor=nonsense`)).statusCode).toBe(422);
  });

  it('lists customers with filters and sorting', async () => {
    const [bob] = await ingest([
      envelope({
        ...who({ kind: 'email', value: 'bob@example.com' }),
        occurredAt: '2026-11-18T10:00:00Z',
        type: 'survey.answered',
        channel: 'email',
        data: { nps: 3 },
      }),
    ]);
    await get(`/v1/customers?minPosition=${bob.position}`);
    const detractors = await get('/v1/customers?npsCategory=detractor');
    expect(detractors.json().items.map((c: { customerId: string }) => c.customerId)).toEqual([bob.customerId]);
    const prospects = await get('/v1/customers?stage=prospect&sort=-lastSeenAt');
    expect(prospects.json().items[0]).toMatchObject({ customerId: bob.customerId, lifecycleStage: 'prospect', valueSegment: 'none' });
    const lowValue = await get('/v1/customers?segment=low&lastSeenFrom=2026-11-01T00:00:00Z');
    expect(lowValue.json().items).toHaveLength(1);
    const byIdentifier = await get('/v1/customers?identifier=email:bob@example.com');
    expect(byIdentifier.json().items.map((c: { customerId: string }) => c.customerId)).toEqual([bob.customerId]);
    const paged = await get('/v1/customers?limit=1&sort=firstSeenAt');
    expect(paged.json().items).toHaveLength(1);
    const next = await get(`/v1/customers?limit=1&sort=firstSeenAt&cursor=${paged.json().nextCursor}`);
    expect(next.json().items[0].customerId).not.toBe(paged.json().items[0].customerId);
    const invalid = await get('/v1/customers?stage=sleeping&limit=0');
    expect(invalid.statusCode).toBe(422);
    expect(
      invalid
        .json()
        .errors.map((e: { field: string }) => e.field)
        .sort(),
    ).toEqual(['limit', 'stage']);
  });

  it.each([
    ['/v1/customers', 'analyst'],
    ['/v1/customers/lookup?identifier=email:ana@example.com', 'analyst'],
    // ops too: auditors reproduce what the platform knew (asOf); the audit trail shows them every payload anyway
    ['/v1/customers/some-id', 'analyst+ops'],
    ['/v1/customers/some-id/timeline', 'analyst'],
    ['/metrics', 'ops'],
  ])('GET %s needs the role %s: other roles get 403, no key 401', async (url, role) => {
    for (const [name, key] of Object.entries(KEYS)) {
      if (role.split('+').includes(name)) continue;
      const res = await get(url, key);
      expect(res.statusCode).toBe(403);
    }
    expect((await get(url, null)).statusCode).toBe(401);
  });

  it('reports readiness with projection lag, and Prometheus metrics', async () => {
    const ready = await get('/health/ready', null);
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', projections: { projector: 'embedded', lagEvents: 0, lagSeconds: 0 } });
    const metrics = await get('/metrics', KEYS.ops);
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toMatch(/cem_projection_lag_events{read_model="customer-360"} 0/);
    expect(metrics.body).toMatch(/cem_projection_lag_seconds{read_model="customer-360"} 0/);
    expect(metrics.body).toMatch(/cem_ingest_events_total\{outcome="recorded"\} \d+/);
    expect(metrics.body).toMatch(/cem_http_request_duration_seconds_count\{route="\/v1\/customers\/:id",method="GET",status="307"\}/);
    expect(metrics.body).not.toMatch(/ana@example\.com/);
  });

  it('documents every customers endpoint and its role in the OpenAPI document', async () => {
    const doc = (await get('/docs/openapi.json', null)).json();
    for (const path of ['/v1/customers', '/v1/customers/lookup', '/v1/customers/{id}', '/v1/customers/{id}/timeline']) {
      expect(doc.paths[path].get.summary).toMatch(/role: analyst/);
    }
    expect(doc.components.schemas.Customer360Dto.properties.lifecycleStage.enum).toContain('won_back');
  });
});
