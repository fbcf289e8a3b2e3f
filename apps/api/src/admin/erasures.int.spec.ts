import { randomBytes } from 'node:crypto';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

const EMAIL = 'joris.vandermeulen@example.com';
const PHONE = '+31687654321';
const SECRETS = [EMAIL, PHONE, 'Joris', 'Vandermeulen', 'the invoice was wrong twice'];

/**
 * POST /v1/admin/erasures (role ops): the erasure of `cem erase` through the API, with its specific
 * refusals; the certificate answered, the ops event recorded, and the customer's personal values gone
 * from what the API answers afterwards.
 */
describe('erasure endpoint (POST /v1/admin/erasures)', () => {
  let api: ApiHarness;
  const privacy = { PRIVACY_MASTER_KEY: randomBytes(32).toString('base64'), PRIVACY_INDEX_SECRET: randomBytes(32).toString('base64') };
  beforeAll(async () => (api = await startApi(privacy)));
  afterAll(() => api.close());

  const call = (method: 'GET' | 'POST', url: string, key: string | null, body?: unknown) =>
    api.app.inject({
      method,
      url,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  const erase = (body: unknown, key: string | null = KEYS.ops) => call('POST', '/v1/admin/erasures', key, body);
  const ingest = async (events: Record<string, unknown>[]) => {
    const res = await call('POST', '/v1/events:batch', KEYS.ingest, { events });
    expect(res.statusCode).toBe(200);
    return res.json().results as { customerId: string; position: number }[];
  };
  const opsEvents = async () => (await api.platform.logStore.readAll()).filter((e) => e.streamId === 'cem-ops');
  const found = (text: string) => SECRETS.filter((s) => text.includes(s));

  /** Joris by email (a complaint), by phone (a purchase), then one event naming both: merged. */
  async function joris() {
    const email = { kind: 'email', value: EMAIL };
    const phone = { kind: 'phone', value: PHONE };
    const [a] = await ingest([
      envelope({
        type: 'complaint.filed',
        customer: { identifiers: [email] },
        data: { category: 'billing', description: 'the invoice was wrong twice' },
      }),
    ]);
    const [b] = await ingest([
      envelope({ type: 'purchase.completed', customer: { identifiers: [phone] }, data: { orderId: 'o-7', amount: 40, currency: 'EUR' } }),
    ]);
    const [m] = await ingest([
      envelope({
        type: 'profile.updated',
        customer: { identifiers: [email, phone] },
        data: { firstName: 'Joris', lastName: 'Vandermeulen' },
      }),
    ]);
    return { survivor: m.customerId, mergedAway: [a.customerId, b.customerId].find((id) => id !== m.customerId)!, position: m.position };
  }

  it('needs the role ops: 401 without a key, 403 for ingest and analyst keys, nothing erased or recorded', async () => {
    const { survivor } = await joris();
    const before = (await opsEvents()).length;
    expect((await erase({ customerId: survivor, reason: 'r' }, null)).statusCode).toBe(401);
    for (const key of [KEYS.ingest, KEYS.analyst]) {
      const res = await erase({ customerId: survivor, reason: 'r' }, key);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: 'forbidden', message: 'this endpoint needs the role ops' });
    }
    expect((await opsEvents()).length).toBe(before);
    expect(await api.platform.registry.lookup({ kind: 'email', value: EMAIL })).toBe(survivor);
    await erase({ customerId: survivor, reason: 'clean up' });
  });

  it('refuses bad input with a specific answer and changes nothing', async () => {
    const { survivor, mergedAway } = await joris();
    const head = await api.platform.logStore.headPosition();
    const fieldsOf = (res: { json(): any }) => (res.json().errors as { field: string }[]).map((e) => e.field);

    for (const [body, field] of [
      [{ customerId: survivor }, 'reason'],
      [{ customerId: survivor, reason: '   ' }, 'reason'],
      [{ customerId: survivor, reason: 'x'.repeat(501) }, 'reason'],
      [{ customerId: survivor, reason: 7 }, 'reason'],
      [{ reason: 'r' }, 'customerId'],
      [{ customerId: 'not-an-id', reason: 'r' }, 'customerId'],
      [{ customerId: survivor, reason: 'r', extra: 1 }, 'extra'],
      [[], 'body'],
      ['null', 'body'],
    ] as const) {
      const res = await erase(body);
      expect({ body, status: res.statusCode }).toEqual({ body, status: 400 });
      expect(res.json()).toMatchObject({ error: 'validation_failed', message: 'invalid body; nothing was erased' });
      expect(fieldsOf(res)).toContain(field);
    }
    expect((await erase('{"customerId":')).json()).toMatchObject({ statusCode: 400, error: 'malformed_json' });

    const unknown = await erase({ customerId: '0b6d4c1e-1f7e-4a52-9d43-5a1f8a1e0009', reason: 'r' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'not_found', message: 'customerId: no customer 0b6d4c1e-1f7e-4a52-9d43-5a1f8a1e0009' });

    const merged = await erase({ customerId: mergedAway, reason: 'r' });
    expect(merged.statusCode).toBe(409);
    expect(merged.json()).toMatchObject({
      error: 'merged_away',
      message: `customerId: ${mergedAway} was merged into ${survivor}; erase ${survivor}`,
    });

    // a refusal after the body was read is an ops event too (refused; no personal data); a 400 of the body check is not
    const refused = (await opsEvents()).filter((e) => (e.data as any).action === 'erase' && (e.data as any).result === 'refused');
    expect(refused.length).toBeGreaterThanOrEqual(2);
    // everything as before: no certificate, the identifiers still resolve
    expect((await api.platform.logStore.readAll()).filter((e) => e.position > head && e.streamId !== 'cem-ops')).toEqual([]);
    expect(await api.platform.registry.lookup({ kind: 'email', value: EMAIL })).toBe(survivor);

    expect((await erase({ customerId: survivor, reason: 'r' })).statusCode).toBe(201);
    const again = await erase({ customerId: survivor, reason: 'r' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: 'already_erased', message: `customerId: customer ${survivor} is already erased` });
  });

  it('erases: answers the certificate, records the ops event by key name, and the API shows no personal value afterwards', async () => {
    const { survivor, mergedAway, position } = await joris();
    const view = await call('GET', `/v1/customers/${survivor}?minPosition=${position}`, KEYS.analyst);
    expect(view.statusCode).toBe(200);
    expect(found(view.body)).toEqual(expect.arrayContaining([EMAIL, 'Joris']));

    const res = await erase({ customerId: survivor, reason: 'DSR-2026-0099' });
    expect(res.statusCode).toBe(201);
    const certificate = res.json();
    expect(certificate).toEqual({
      customerId: survivor,
      erasedCustomerIds: expect.arrayContaining([survivor, mergedAway]),
      erasedAt: expect.any(String),
      requestedBy: { kind: 'api-key', name: expect.any(String) },
      reason: 'DSR-2026-0099',
      erasedFields: expect.arrayContaining(['complaint.filed: description', 'profile.updated: *', 'purchase.completed: identifiers']),
      // the three touch points, the two customer.registered and the customers.merged (identifiers, merge keys)
      encryptedEvents: 6,
      plaintextEvents: 0,
      logHeadBefore: expect.any(Number),
      position: expect.any(Number),
      eventId: expect.any(String),
    });
    expect(certificate.erasedCustomerIds).toHaveLength(2);
    expect(found(res.body)).toEqual([]);

    // the certificate is the personal-data.erased event; the ops event names the key, never personal data
    const kept = (await api.platform.logStore.readAll()).find((e) => e.eventId === certificate.eventId)!;
    expect(kept).toMatchObject({ type: 'personal-data.erased', position: certificate.position });
    const ops = (await opsEvents()).at(-1)!;
    expect(ops.data).toMatchObject({
      action: 'erase',
      actor: { kind: 'api-key', name: certificate.requestedBy.name },
      parameters: { customerId: survivor },
      result: 'ok',
    });
    expect(ops.metadata).toMatchObject({ source: 'cem/api' });
    expect(found(JSON.stringify(ops))).toEqual([]);
    expect(JSON.stringify(ops)).not.toContain(KEYS.ops);

    // the API: the 360 view without the personal values (counts and amounts kept), the identifiers no longer resolve
    const after = await call('GET', `/v1/customers/${survivor}?minPosition=${certificate.position}`, KEYS.analyst);
    expect(after.statusCode).toBe(200);
    expect(found(after.body)).toEqual([]);
    expect(after.json()).toMatchObject({ eventCount: 3, lifetimeValue: [{ currency: 'EUR', purchased: 40 }] });
    const lookup = await call('GET', `/v1/customers/lookup?identifier=email:${EMAIL}&minPosition=${certificate.position}`, KEYS.analyst);
    expect(lookup.statusCode).toBe(404);
    const audit = await call('GET', `/v1/audit/customers/${survivor}`, KEYS.ops);
    expect(audit.statusCode).toBe(200);
    expect(audit.body).toContain('personal-data.erased');
    expect(found(audit.body)).toEqual([]);
  });

  it('refuses without encryption (erasure_not_available), naming the setting', async () => {
    const plain = await startApi();
    try {
      const ingested = await plain.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
        payload: JSON.stringify(envelope()),
      });
      expect(ingested.statusCode).toBe(201);
      const customerId = ingested.json().customerId as string;
      const res = await plain.app.inject({
        method: 'POST',
        url: '/v1/admin/erasures',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ops}` },
        payload: JSON.stringify({ customerId, reason: 'r' }),
      });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: 'erasure_not_available', message: expect.stringContaining('PRIVACY_MASTER_KEY') });
    } finally {
      await plain.close();
    }
  });
});
