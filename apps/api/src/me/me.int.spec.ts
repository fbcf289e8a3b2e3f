import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

describe('GET /v1/me: the calling key', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi()));
  afterAll(() => api.close());

  const me = (authorization?: string) => api.app.inject({ method: 'GET', url: '/v1/me', headers: authorization ? { authorization } : {} });

  it.each(Object.entries(KEYS))('answers the %s key its id, name and roles, never the key', async (role, key) => {
    const res = await me(`Bearer ${key}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ keyId: expect.any(String), name: expect.any(String), roles: [role] });
    expect(res.body).not.toContain(key);
  });

  it('refuses a missing or unknown key with 401 and a message', async () => {
    for (const res of [await me(), await me('Bearer not-a-key-0123456789')]) {
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'unauthenticated', message: expect.stringMatching(/API key/) });
    }
  });

  it('is documented with a precise schema', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json();
    const op = doc.paths['/v1/me'].get;
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '401']));
    expect(doc.components.schemas.ApiKeyIdentityDto.required).toEqual(['keyId', 'name', 'roles']);
  });
});
