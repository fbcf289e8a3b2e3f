import { randomBytes } from 'node:crypto';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/** POST /v1/admin/subject-exports (role ops): `cem export-subject` through the API, its refusals and its ops event. */
describe('data-subject export endpoint (POST /v1/admin/subject-exports)', () => {
  let api: ApiHarness;
  let customerId: string;
  const privacy = { PRIVACY_MASTER_KEY: randomBytes(32).toString('base64'), PRIVACY_INDEX_SECRET: randomBytes(32).toString('base64') };
  const EMAIL = 'sanne.bakker@example.com';

  beforeAll(async () => {
    api = await startApi(privacy);
    const res = await call(KEYS.ingest, '/v1/events', {
      ...envelope({
        type: 'survey.answered',
        schemaVersion: 2,
        customer: { identifiers: [{ kind: 'email', value: EMAIL }] },
        data: { nps: 3, comment: 'too slow' },
      }),
    });
    expect(res.statusCode).toBe(201);
    customerId = res.json().customerId;
  });
  afterAll(() => api.close());

  function call(key: string | null, url: string, body: unknown) {
    return api.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }
  const exportOf = (body: unknown, key: string | null = KEYS.ops) => call(key, '/v1/admin/subject-exports', body);
  const opsEvents = async () => (await api.platform.logStore.readAll()).filter((e) => e.streamId === 'cem-ops');

  it('needs the role ops (401, 403 for ingest and analyst keys), recording nothing', async () => {
    const before = (await opsEvents()).length;
    expect((await exportOf({ identifier: `email:${EMAIL}` }, null)).statusCode).toBe(401);
    for (const key of [KEYS.ingest, KEYS.analyst]) {
      const res = await exportOf({ identifier: `email:${EMAIL}` }, key);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: 'forbidden', message: 'this endpoint needs the role ops' });
      expect(res.body).not.toContain('too slow');
    }
    expect((await opsEvents()).length).toBe(before);
  });

  it('answers the export by identifier, decrypted, and records an ops event without the identifier', async () => {
    const res = await exportOf({ identifier: `email:${EMAIL.toUpperCase()}` });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.subject).toEqual({ customerId, foundBy: 'identifier', mergedIds: [] });
    expect(doc.identifiers).toEqual([expect.objectContaining({ kind: 'email', value: EMAIL, resolvesToSubject: true })]);
    expect(doc.events.find((e: { type: string }) => e.type === 'survey.answered')).toMatchObject({
      data: { nps: 3, comment: 'too slow' },
      source: 'genesys',
    });
    expect(doc.erasure).toBeNull();
    const ops = (await opsEvents()).at(-1)!;
    expect(ops.data).toMatchObject({
      action: 'export-subject',
      actor: { kind: 'api-key' },
      result: 'ok',
      parameters: { by: 'identifier' },
    });
    expect(JSON.stringify(ops)).not.toContain('sanne');
    expect(JSON.stringify(ops)).not.toContain('too slow');
  });

  it('refuses bad input with a specific answer', async () => {
    const bad: [unknown, number, string][] = [
      [{}, 400, 'body'],
      [{ identifier: `email:${EMAIL}`, customerId }, 400, 'body'],
      [{ identifier: 'email:not-an-email' }, 400, 'identifier'],
      [{ identifier: 'nocolon' }, 400, 'identifier'],
      [{ identifier: 7 }, 400, 'identifier'],
      [{ customerId: 'nope' }, 400, 'customerId'],
      [{ extra: 1 }, 400, 'extra'],
      [[], 400, 'body'],
    ];
    for (const [body, status, field] of bad) {
      const res = await exportOf(body);
      expect({ body, status: res.statusCode }).toEqual({ body, status });
      expect(res.json()).toMatchObject({ error: 'validation_failed', message: 'invalid body; nothing was exported' });
      expect((res.json().errors as { field: string }[]).map((e) => e.field)).toContain(field);
    }
    const unknown = await exportOf({ identifier: 'email:nobody@example.com' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ statusCode: 404, error: 'not_found', message: 'identifier: no customer holds this identifier' });
    const noCustomer = await exportOf({ customerId: '0b6d4c1e-1f7e-4a52-9d43-5a1f8a1e0009' });
    expect(noCustomer.statusCode).toBe(404);
    expect(noCustomer.json().error).toBe('not_found');
  });
});
