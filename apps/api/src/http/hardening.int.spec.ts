import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/** Issue 10, findings 4 (echoes, key before body), 8 (invalid UTF-8) and 9 (__proto__). */
describe('HTTP hardening', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi({ INGEST_MAX_BODY_BYTES: '262144' })));
  afterAll(() => api.close());

  const send = (opts: { method?: string; url: string; key?: string | null; type?: string; payload?: string | Buffer }) =>
    api.app.inject({
      method: (opts.method ?? 'POST') as 'POST',
      url: opts.url,
      headers: {
        ...(opts.type ? { 'content-type': opts.type } : {}),
        ...(opts.key === null ? {} : { authorization: `Bearer ${opts.key ?? KEYS.ingest}` }),
      },
      payload: opts.payload,
    });
  const json = (payload: unknown, key?: string | null) =>
    send({ url: '/v1/events', type: 'application/json', payload: JSON.stringify(payload), key });

  describe('echoes (finding 4)', () => {
    it('refuses a form-encoded body with 415, echoing nothing of it', async () => {
      const res = await send({ url: '/v1/events', type: 'application/x-www-form-urlencoded', payload: 'email=ana%40example.com&x=1' });
      expect(res.statusCode).toBe(415);
      expect(res.json()).toMatchObject({ error: 'unsupported_media_type' });
      expect(res.body).not.toContain('ana');
      expect(res.body).not.toContain('example.com');
    });

    it('does not echo a 100,000-character eventId in full', async () => {
      const eventId = 'x'.repeat(100_000);
      const res = await json(envelope({ eventId }));
      expect(res.statusCode).toBe(422);
      expect(res.json().errors).toEqual([expect.objectContaining({ field: 'eventId' })]);
      expect(res.body.length).toBeLessThan(1000);
    });

    it('does not echo a 100,000-character unknown field name in full', async () => {
      const res = await json({ ...envelope(), ['k'.repeat(100_000)]: 1 });
      expect(res.statusCode).toBe(422);
      expect(res.body.length).toBeLessThan(1000);
    });

    it('answers 404 without the query string (it may carry an identifier)', async () => {
      const res = await send({ method: 'GET', url: '/v1/nowhere?email=ana@example.com', key: KEYS.analyst });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: 'not_found' });
      expect(res.body).not.toContain('ana');
      expect(res.body).not.toContain('email=');
    });

    it('answers 422 on a lookup without echoing the identifier or the query string', async () => {
      const res = await send({
        method: 'GET',
        url: '/v1/customers/lookup?identifier=email:ana@example.com&bogus=ana@example.com',
        key: KEYS.analyst,
      });
      expect(res.statusCode).toBe(422);
      expect(res.body).not.toContain('ana@example.com');
      expect(res.body).not.toContain('?');
    });
  });

  describe('the API key is checked before the body is read (finding 4)', () => {
    it.each([
      ['no key', null],
      ['an unknown key', 'not-a-key-0123456789'],
    ])('answers 401 to %s whatever the body: malformed, oversized, form-encoded, text, invalid UTF-8', async (_name, key) => {
      const bodies: { type: string; payload: string | Buffer }[] = [
        { type: 'application/json', payload: '{"events": [' },
        { type: 'application/json', payload: JSON.stringify({ events: [], pad: 'x'.repeat(300_000) }) },
        { type: 'application/x-www-form-urlencoded', payload: 'email=ana%40example.com' },
        { type: 'text/plain', payload: 'hello' },
        { type: 'application/json', payload: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) },
      ];
      for (const b of bodies) {
        const res = await send({ url: '/v1/events:batch', key, ...b });
        expect([b.type, res.statusCode, res.json().error]).toEqual([b.type, 401, 'unauthenticated']);
      }
    });

    it('answers 403 to a key without the role before reading the body', async () => {
      const res = await send({ url: '/v1/events:batch', key: KEYS.analyst, type: 'application/json', payload: '{"events": [' });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: 'forbidden' });
    });

    it('still reads the body for a key with the role (malformed JSON: 400)', async () => {
      const res = await send({ url: '/v1/events:batch', type: 'application/json', payload: '{"events": [' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'malformed_json' });
    });

    it('keeps public endpoints public', async () => {
      expect((await send({ method: 'GET', url: '/health/live', key: null })).statusCode).toBe(200);
      expect((await send({ method: 'GET', url: '/docs/openapi.json', key: null })).statusCode).toBe(200);
    });
  });

  describe('invalid UTF-8 (finding 8)', () => {
    it('refuses a JSON body with an invalid UTF-8 sequence in a string (400 invalid_utf8), writing nothing', async () => {
      const e = envelope({ type: 'message.received', channel: 'email', data: { subject: 'SUBJ' } });
      const text = JSON.stringify(e);
      const at = Buffer.from(text).indexOf('SUBJ');
      const bytes = Buffer.from(text);
      bytes[at + 1] = 0xc3; // a lead byte followed by an ASCII byte: invalid
      const before = await api.platform.store.headPosition();
      const res = await send({ url: '/v1/events', type: 'application/json', payload: bytes });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_utf8' });
      expect(res.json().message).toContain(`byte ${at + 1}`);
      expect(await api.platform.store.headPosition()).toBe(before);
    });

    it('accepts valid multi-byte UTF-8 (and a leading byte-order mark)', async () => {
      const e = envelope({ type: 'message.received', channel: 'email', data: { subject: 'Ünïcødé ✓ 😀' } });
      const res = await send({
        url: '/v1/events',
        type: 'application/json; charset=utf-8',
        payload: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(e))]),
      });
      expect(res.statusCode).toBe(201);
    });
  });

  describe('__proto__ (finding 9)', () => {
    it.each([
      ['__proto__', '{"__proto__": {"admin": true}}'],
      ['escaped __proto__', '{"\\u005f_proto__": {"admin": true}}'],
      ['constructor.prototype', '{"constructor": {"prototype": {"admin": true}}}'],
    ])('refuses a %s key with 400 forbidden_key, not "malformed JSON"', async (_name, inner) => {
      const res = await send({ url: '/v1/events:batch', type: 'application/json', payload: `{"events": [${inner}]}` });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        statusCode: 400,
        error: 'forbidden_key',
        message: 'the body contains a __proto__ or constructor.prototype key, which is refused',
      });
    });

    it('still accepts "prototype" and "constructor" as ordinary text', async () => {
      const e = envelope({ type: 'message.received', channel: 'email', data: { subject: 'constructor prototype __proto__' } });
      expect((await json(e)).statusCode).toBe(201);
    });
  });
});
