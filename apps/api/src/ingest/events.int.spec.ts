import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

describe('HTTP ingestion', () => {
  let api: ApiHarness;
  beforeEach(async () => (api = await startApi({ INGEST_MAX_BATCH_EVENTS: '50', INGEST_MAX_BODY_BYTES: '65536' })));
  afterEach(() => api.close());

  const post = (url: string, payload: unknown, key: string | null = KEYS.ingest, raw = false) =>
    api.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      payload: raw ? (payload as string) : JSON.stringify(payload),
    });
  const head = () => api.platform.store.headPosition();

  it('records one event and answers with the customer and the position', async () => {
    const res = await post('/v1/events', envelope());
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ duplicate: false });
    expect(body.customerId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.position).toBe(2); // customer.registered, then the event
  });

  it('acknowledges a retry of the same eventId without writing it twice', async () => {
    const e = envelope();
    const first = (await post('/v1/events', e)).json();
    const again = await post('/v1/events', e);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ...first, duplicate: true });
    expect(await head()).toBe(2);
  });

  it('refuses the same eventId with different content (409), writing nothing', async () => {
    const e = envelope();
    await post('/v1/events', e);
    const res = await post('/v1/events:batch', { events: [envelope(), { ...e, data: { ...e.data, handleSeconds: 999 } }] });
    expect(res.statusCode).toBe(409);
    expect(res.json().errors).toEqual([
      expect.objectContaining({ index: 1, field: 'eventId', reason: 'was already recorded with different content' }),
    ]);
    expect(await head()).toBe(2);
  });

  it('refuses a batch repeating one eventId with different content (409), writing nothing', async () => {
    const e = envelope();
    const res = await post('/v1/events:batch', {
      events: [e, envelope(), { ...e, channel: 'chat', data: { ...e.data, resolved: false } }],
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().errors).toEqual([
      expect.objectContaining({ index: 2, field: 'eventId', reason: 'repeats the eventId of event 0 with different content' }),
    ]);
    expect(await head()).toBe(0);
  });

  it('answers a batch repeating one event identically with the same result twice', async () => {
    const e = envelope();
    const res = await post('/v1/events:batch', { events: [e, e] });
    expect(res.statusCode).toBe(200);
    const [a, b] = res.json().results;
    expect(b).toEqual({ ...a, duplicate: true });
  });

  it('accepts a batch whole, resolving shared identifiers to one customer', async () => {
    const ids = { identifiers: [{ kind: 'email', value: 'ana@example.com' }] };
    const res = await post('/v1/events:batch', {
      events: [envelope({ customer: ids }), envelope({ customer: ids, type: 'survey.answered', data: { nps: 9 } }), envelope()],
    });
    expect(res.statusCode).toBe(200);
    const { results } = res.json();
    expect(results).toHaveLength(3);
    expect(results[0].customerId).toBe(results[1].customerId);
    expect(results[2].customerId).not.toBe(results[0].customerId);
  });

  it('refuses a batch whole when one event is invalid, naming its index, field and reason', async () => {
    const res = await post('/v1/events:batch', { events: [envelope(), envelope({ occurredAt: 'yesterday' }), envelope()] });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      error: 'validation_failed',
      errors: [{ index: 1, field: 'occurredAt', reason: expect.stringContaining('ISO-8601') }],
    });
    expect(await head()).toBe(0);
  });

  it.each<[string, () => unknown, number, string]>([
    ['unknown type', () => ({ events: [envelope({ type: 'teleport.completed' })] }), 422, 'type'],
    ['missing eventId', () => ({ events: [{ ...envelope(), eventId: undefined }] }), 422, 'eventId'],
    ['time too far in the future', () => ({ events: [envelope({ occurredAt: '2030-01-01T00:00:00Z' })] }), 422, 'occurredAt'],
    ['empty identifiers', () => ({ events: [envelope({ customer: { identifiers: [] } })] }), 422, 'customer.identifiers'],
    [
      'bad phone',
      () => ({ events: [envelope({ customer: { identifiers: [{ kind: 'phone', value: '+1 555' }] } })] }),
      422,
      'customer.identifiers.0.value',
    ],
    ['unknown field', () => ({ events: [envelope({ sneaky: true })] }), 422, 'sneaky'],
    ['not an array', () => ({ events: 'nope' }), 422, 'events'],
    ['empty batch', () => ({ events: [] }), 422, 'events'],
  ])('%s -> %i naming %s, nothing written', async (_name, body, status, field) => {
    const res = await post('/v1/events:batch', body());
    expect(res.statusCode).toBe(status);
    expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await head()).toBe(0);
  });

  it('refuses malformed JSON with 400', async () => {
    const res = await post('/v1/events:batch', '{"events": [{', KEYS.ingest, true);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'malformed_json' });
  });

  it('refuses a batch over the event limit with 413', async () => {
    const res = await post('/v1/events:batch', { events: Array.from({ length: 51 }, () => envelope()) });
    expect(res.statusCode).toBe(413);
    expect(res.json().message).toContain('at most 50 events');
    expect(await head()).toBe(0);
  });

  it('refuses an oversized body with 413', async () => {
    const big = envelope({ type: 'message.received', data: { body: 'x'.repeat(70_000) } });
    const res = await post('/v1/events', big);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large' });
    expect(await head()).toBe(0);
  });

  it('refuses a body that is not JSON with 415', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${KEYS.ingest}` },
      payload: 'hello',
    });
    expect(res.statusCode).toBe(415);
  });

  describe('API keys and roles', () => {
    it('refuses a missing key with 401', async () => {
      const res = await post('/v1/events', envelope(), null);
      expect(res.statusCode).toBe(401);
    });
    it('refuses an unknown key with 401', async () => {
      expect((await post('/v1/events', envelope(), 'not-a-real-key-at-all')).statusCode).toBe(401);
    });
    it.each([['analyst'], ['ops']] as const)('refuses the %s role on ingest endpoints with 403', async (role) => {
      expect((await post('/v1/events', envelope(), KEYS[role])).statusCode).toBe(403);
      expect((await post('/v1/events:batch', { events: [envelope()] }, KEYS[role])).statusCode).toBe(403);
      expect(await head()).toBe(0);
    });
    it('accepts a key created by the CLI path (stored hashed) and refuses it once revoked', async () => {
      const { keyId, key } = api.platform.apiKeys.create('integration x', ['ingest']);
      const stored = api.platform.db.prepare('SELECT key_hash FROM api_keys WHERE key_id = ?').get(keyId) as { key_hash: string };
      expect(stored.key_hash).not.toContain(key);
      expect((await post('/v1/events', envelope(), key)).statusCode).toBe(201);
      api.platform.apiKeys.revoke(keyId);
      expect((await post('/v1/events', envelope(), key)).statusCode).toBe(401);
    });
    it('also reads the key from X-API-Key', async () => {
      const res = await api.app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': KEYS.ingest }, payload: envelope() });
      expect(res.statusCode).toBe(201);
    });
  });

  it('serves health without a key and the OpenAPI document', async () => {
    expect((await api.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const doc = await api.app.inject({ method: 'GET', url: '/docs/openapi.json' });
    expect(doc.statusCode).toBe(200);
    expect(Object.keys(doc.json().paths)).toEqual(expect.arrayContaining(['/v1/events', '/v1/events:batch']));
  });
});
