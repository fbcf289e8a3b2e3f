import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/** What the CI fuzzer (test/fuzz/run.sh, schemathesis) found, each pinned by a test. */
describe('fuzzer findings', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi()));
  afterAll(() => api.close());

  const get = (url: string, headers: Record<string, string>) => api.app.inject({ method: 'GET', url, headers });

  describe('one credential per request', () => {
    it('refuses two different keys (one valid) with 401, whichever header holds the valid one', async () => {
      for (const headers of [
        { authorization: `Bearer ${KEYS.analyst}`, 'x-api-key': 'not-a-key' },
        { authorization: 'Bearer not-a-key', 'x-api-key': KEYS.analyst },
      ]) {
        const res = await get('/v1/customers', headers);
        expect(res.statusCode).toBe(401);
        expect(res.json()).toMatchObject({ error: 'unauthenticated', message: expect.stringMatching(/two different API keys/) });
      }
    });

    it('refuses an Authorization header that is not "Bearer <key>", even next to a valid X-API-Key', async () => {
      const res = await get('/v1/customers', { authorization: 'Basic YTpi', 'x-api-key': KEYS.analyst });
      expect(res.statusCode).toBe(401);
    });

    it('accepts the same key in both headers, or in either one alone', async () => {
      expect((await get('/v1/customers', { authorization: `Bearer ${KEYS.analyst}`, 'x-api-key': KEYS.analyst })).statusCode).toBe(200);
      expect((await get('/v1/customers', { 'x-api-key': KEYS.analyst })).statusCode).toBe(200);
      expect((await get('/v1/customers', { authorization: `Bearer ${KEYS.analyst}` })).statusCode).toBe(200);
    });
  });

  describe('methods a path does not serve', () => {
    it.each(['QUERY', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PUT'])(
      'answers %s on /v1/events with 405 and its exact Allow, before reading any body',
      async (method) => {
        const res = await api.app.inject({
          method: method as 'GET',
          url: '/v1/events',
          payload: 'x',
          headers: { authorization: `Bearer ${KEYS.ingest}` },
        });
        expect(res.statusCode).toBe(405);
        expect(res.headers.allow).toBe('POST');
        expect(res.json()).toMatchObject({ error: 'method_not_allowed' });
      },
    );

    it('lists exactly the methods of each resource in Allow', async () => {
      const allow = async (method: string, url: string) => (await api.app.inject({ method: method as 'GET', url })).headers.allow;
      expect(await allow('OPTIONS', '/v1/customers/abc')).toBe('GET, HEAD');
      expect(await allow('POST', '/v1/customers/abc/timeline')).toBe('GET, HEAD');
      expect(await allow('DELETE', '/v1/events:batch')).toBe('POST');
      expect(await allow('GET', '/v1/imports/job-1/file')).toBe('PUT');
      // a literal route next to a parametric sibling (/v1/segments/:id): only the literal one's methods
      expect(await allow('OPTIONS', '/v1/segments/dry-run')).toBe('POST');
      expect(await allow('OPTIONS', '/v1/segments/seg-1')).toBe('DELETE, GET, HEAD, PUT');
    });

    it('answers 404 for a path nobody serves, whatever the method', async () => {
      for (const method of ['GET', 'QUERY', 'DELETE']) {
        const res = await api.app.inject({ method: method as 'GET', url: '/v1/nothing-here?x=1' });
        expect(res.statusCode).toBe(404);
        expect(res.body).not.toContain('x=1');
      }
    });
  });

  describe('query parameters are described as the API validates them', () => {
    it('declares instants, identifiers and integers with their formats, so generated values are valid ones', async () => {
      const doc = (await api.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json();
      const params = (path: string) =>
        Object.fromEntries(
          (doc.paths[path].get.parameters as { name: string; schema: Record<string, unknown> }[]).map((p) => [p.name, p.schema]),
        );
      const list = params('/v1/customers');
      for (const name of ['at', 'lastSeenFrom', 'lastSeenTo'])
        expect(list[name]).toMatchObject({ type: 'string', format: 'date-time', pattern: expect.any(String) });
      expect(list.identifier).toMatchObject({ type: 'string', pattern: expect.any(String) });
      expect(list.limit).toMatchObject({ type: 'integer', minimum: 1, maximum: 500 });
      expect(list.minPosition).toMatchObject({ type: 'integer', minimum: 0 });
      expect(params('/v1/customers/lookup').identifier).toMatchObject({ pattern: expect.any(String) });
      expect(params('/v1/customers/{id}/timeline').limit).toMatchObject({ type: 'integer' });
      // the declared patterns accept what the API accepts and refuse what it refuses
      const instant = new RegExp(list.at.pattern as string);
      expect(instant.test('2026-11-20T09:15:00Z')).toBe(true);
      expect(instant.test('2026-11-20T09:15:00.123+01:00')).toBe(true);
      expect(instant.test('')).toBe(false);
      expect(instant.test('2026-11-20')).toBe(false);
      const identifier = new RegExp(list.identifier.pattern as string);
      expect(identifier.test('email:ana@example.com')).toBe(true);
      expect(identifier.test('')).toBe(false);
      expect(identifier.test('nokind')).toBe(false);
    });

    it('answers an empty or impossible instant with 422 naming it', async () => {
      for (const q of ['lastSeenFrom=', 'at=2026-02-30T00:00:00Z']) {
        const res = await get(`/v1/customers?${q}`, { authorization: `Bearer ${KEYS.analyst}` });
        expect(res.statusCode).toBe(422);
        expect(res.json().errors[0].field).toBe(q.split('=')[0]);
      }
    });
  });

  describe('long path parameters', () => {
    it('routes ids up to 500 characters (an unknown id is 404) and answers longer ones 414 without echoing the URL', async () => {
      const auth = { authorization: `Bearer ${KEYS.analyst}` };
      expect((await get(`/v1/customers/${'a'.repeat(300)}`, auth)).statusCode).toBe(404);
      const res = await get(`/v1/customers/${'secret-'.repeat(100)}?identifier=email:ana@example.com`, auth);
      expect(res.statusCode).toBe(414);
      expect(res.json()).toEqual({ statusCode: 414, error: 'uri_too_long', message: 'a path parameter is longer than 500 characters' });
      const doc = (await api.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json();
      expect(doc.paths['/v1/customers/{id}'].get.responses['414']).toBeDefined();
    });
  });
});
