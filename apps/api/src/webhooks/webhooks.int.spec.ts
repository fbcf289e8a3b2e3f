import { createHmac } from 'node:crypto';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import { appendBandChange, eventually, startReceiver } from '../../../../test/support/webhook-receiver';

jest.setTimeout(60_000);

const SECRET = 'a-secret-only-ops-and-the-receiver-know-0123';
const valid = (url: string) => ({ url, secret: SECRET, eventTypes: ['customer.churn-risk-changed'] });

describe('webhooks API (role ops) and delivery from the api process', () => {
  let api: ApiHarness;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
    // the dispatcher runs here because this api runs the projector (embedded default)
    api = await startApi({ WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_INITIAL_MS: '50' });
  });
  afterAll(async () => {
    await api.close();
    await receiver.close();
  });

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, key: string | null = KEYS.ops) =>
    api.app.inject({
      method,
      url,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });

  it('needs the ops role: no key 401, analyst or ingest key 403, on every webhook endpoint', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const endpoints: ['GET' | 'POST' | 'DELETE', string, unknown?][] = [
      ['POST', '/v1/webhooks', valid(receiver.url)],
      ['GET', '/v1/webhooks'],
      ['GET', `/v1/webhooks/${id}`],
      ['DELETE', `/v1/webhooks/${id}`],
      ['GET', `/v1/webhooks/${id}/deliveries`],
    ];
    for (const [method, url, body] of endpoints) {
      expect((await call(method, url, body, null)).statusCode).toBe(401);
      expect((await call(method, url, body, KEYS.analyst)).statusCode).toBe(403);
      expect((await call(method, url, body, KEYS.ingest)).statusCode).toBe(403);
    }
    expect((await call('GET', '/v1/webhooks')).json()).toEqual({ items: [] });
  });

  it.each([
    ['a URL that is not http(s)', { url: 'ftp://127.0.0.1/x' }, 'url', 'must be an http or https URL, not ftp'],
    ['a host not in WEBHOOK_ALLOWED_HOSTS', { url: 'https://hooks.example.com/x' }, 'url', 'host is not in WEBHOOK_ALLOWED_HOSTS'],
    ['no secret', { secret: undefined }, 'secret', 'is required: at least 32 characters'],
    ['a short secret', { secret: 'too-short' }, 'secret', 'must be at least 32 characters'],
    [
      'an unknown event type',
      { eventTypes: ['order.shipped'] },
      'eventTypes[0]',
      'unknown event type; one of customer.churn-risk-changed, customer.segment-entered, customer.segment-left',
    ],
    ['an unknown field', { includeEverything: true }, 'includeEverything', 'unknown field'],
  ])('refuses %s with 400 naming the field; nothing stored', async (_what, change, field, reason) => {
    const res = await call('POST', '/v1/webhooks', { ...valid(receiver.url), ...change });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      statusCode: 400,
      error: 'validation_failed',
      message: 'the webhook was refused; nothing was stored',
      errors: [{ field, reason }],
    });
    expect(res.body).not.toContain(SECRET);
    expect((await call('GET', '/v1/webhooks')).json()).toEqual({ items: [] });
  });

  it('refuses a body that is not an object, and bad delivery-log queries, with 4xx', async () => {
    expect((await call('POST', '/v1/webhooks', [valid(receiver.url)])).statusCode).toBe(400);
    expect((await call('POST', '/v1/webhooks', 'x')).statusCode).toBe(400);
    expect((await call('GET', '/v1/webhooks/not-a-uuid')).statusCode).toBe(404);
    expect((await call('GET', '/v1/webhooks/00000000-0000-4000-8000-000000000000/deliveries')).statusCode).toBe(404);
  });

  it('creates a webhook (secret never answered), delivers a band change signed, shows it in the delivery log, deletes it', async () => {
    const created = await call('POST', '/v1/webhooks', valid(receiver.url));
    expect(created.statusCode).toBe(201);
    const webhook = created.json();
    expect(webhook).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      url: receiver.url,
      eventTypes: ['customer.churn-risk-changed'],
      fromPosition: expect.any(Number),
      createdAt: expect.any(String),
    });
    const listed = await call('GET', '/v1/webhooks');
    const one = await call('GET', `/v1/webhooks/${webhook.id}`);
    expect(listed.json()).toEqual({ items: [webhook] });
    expect(one.json()).toEqual(webhook);
    for (const r of [created, listed, one]) expect(r.body).not.toContain(SECRET);

    await appendBandChange(api.platform.store, 'c-api-1', 'critical', 'high');
    const log = await eventually('delivered', async () => {
      const res = await call('GET', `/v1/webhooks/${webhook.id}/deliveries`);
      const body = res.json();
      return body.items[0]?.status === 'delivered' && body;
    });
    expect(log).toEqual({
      items: [
        {
          deliveryId: expect.any(String),
          eventType: 'customer.churn-risk-changed',
          signalId: expect.any(String),
          customerId: 'c-api-1',
          status: 'delivered',
          attempts: 1,
          lastError: null,
          lastAttemptAt: expect.any(String),
          responseCode: 200,
          nextAttemptAt: null,
          createdAt: expect.any(String),
          deliveredAt: expect.any(String),
        },
      ],
      nextCursor: null,
    });
    const req = receiver.requests.find((r) => r.headers['x-delivery-id'] === log.items[0].deliveryId)!;
    expect(req.headers['x-signature']).toBe(createHmac('sha256', SECRET).update(`${req.headers['x-timestamp']}.${req.body}`).digest('hex'));
    expect((await call('GET', `/v1/webhooks/${webhook.id}/deliveries?status=failed`)).json()).toEqual({ items: [], nextCursor: null });
    expect((await call('GET', `/v1/webhooks/${webhook.id}/deliveries?limit=0`)).statusCode).toBe(422);
    expect((await call('GET', `/v1/webhooks/${webhook.id}/deliveries?status=lost`)).statusCode).toBe(422);

    expect((await call('DELETE', `/v1/webhooks/${webhook.id}`)).statusCode).toBe(204);
    expect((await call('GET', `/v1/webhooks/${webhook.id}`)).statusCode).toBe(404);
    expect((await call('DELETE', `/v1/webhooks/${webhook.id}`)).statusCode).toBe(404);
  });
});

describe('webhooks API with the default host policy (WEBHOOK_ALLOWED_HOSTS unset)', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi({}, { dispatchWebhooks: false })));
  afterAll(() => api.close());

  it('keeps at most 100 webhooks: the 101st is refused with 409, nothing stored', async () => {
    const post = (n: number) =>
      api.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ops}` },
        payload: JSON.stringify(valid(`https://hooks.example.com/${n}`)),
      });
    for (let n = 0; n < 100; n++) expect((await post(n)).statusCode).toBe(201);
    const refused = await post(100);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ error: 'limit_reached' });
    const list = await api.app.inject({ method: 'GET', url: '/v1/webhooks', headers: { authorization: `Bearer ${KEYS.ops}` } });
    expect(list.json().items).toHaveLength(100);
  });

  it.each([
    ['http://127.0.0.1:8080/x', 'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)'],
    [
      'http://169.254.169.254/latest',
      'points at a loopback, private or link-local address (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)',
    ],
    ['http://localhost/x', 'points at localhost (list the host in WEBHOOK_ALLOWED_HOSTS to allow it)'],
  ])('refuses %s (SSRF) with 400', async (url, reason) => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ops}` },
      payload: JSON.stringify(valid(url)),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ field: 'url', reason }]);
  });
});
