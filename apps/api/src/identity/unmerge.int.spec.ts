import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/** POST /v1/customers/{id}/unmerge and GET /v1/identity/conflicts: roles, the happy path, each bad input a specific 4xx. */
describe('unmerge API', () => {
  let api: ApiHarness;
  let survivorId: string;
  let splitId: string;
  const ANA = { kind: 'email', value: 'ana.api@example.com' };
  const BEN = { kind: 'email', value: 'ben.api@example.com' };

  const post = (id: string, body: unknown, key = KEYS.ops) =>
    api.app.inject({
      method: 'POST',
      url: `/v1/customers/${id}/unmerge`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      payload: JSON.stringify(body),
    });

  beforeAll(async () => {
    api = await startApi();
    const [a] = await api.platform.ingestion.ingest([envelope({ customer: { identifiers: [ANA] } })]);
    const [b] = await api.platform.ingestion.ingest([envelope({ customer: { identifiers: [BEN] } })]);
    await api.platform.ingestion.ingest([envelope({ customer: { identifiers: [ANA, BEN] } })]);
    survivorId = a.customerId;
    splitId = b.customerId;
  }, 60_000);
  afterAll(async () => api?.close());

  it('refuses a wrong role and bad input with a specific error, and changes nothing', async () => {
    const head = await api.platform.store.headPosition();
    const ok = { split: [{ customerId: splitId }], reason: 'CASE-1' };
    expect((await post(survivorId, ok, KEYS.analyst)).statusCode).toBe(403);
    const cases: [unknown, string, number, string?][] = [
      [{ split: [{ customerId: splitId }] }, survivorId, 400, 'reason'],
      [{ split: [{ customerId: splitId }], reason: '' }, survivorId, 400, 'reason'],
      [{ split: [{ customerId: splitId }], reason: 7 }, survivorId, 400, 'reason'],
      [{ reason: 'x' }, survivorId, 400, 'split'],
      [{ split: [{ customerId: splitId, identifiers: ['email:ana.api@example.com'] }], reason: 'x' }, survivorId, 400, 'identifiers'],
      [{ split: [{ customerId: splitId, identifiers: ['nonsense'] }], reason: 'x' }, survivorId, 400, 'split[0].identifiers[0]'],
      [{ split: [{ customerId: 'zz' }], reason: 'x' }, survivorId, 400, 'split[0]'],
      [{ split: [{ customerId: splitId }], reason: 'x', extra: 1 }, survivorId, 400, 'extra'],
      [[1, 2], survivorId, 400, 'body'],
      [ok, '00000000-0000-4000-8000-000000000000', 404],
      [ok, 'not-a-customer', 404],
      [ok, splitId, 409],
      [{ split: [{ customerId: survivorId }], reason: 'x' }, survivorId, 400, 'split'],
    ];
    for (const [body, id, status, field] of cases) {
      const res = await post(id, body);
      expect([JSON.stringify(body), res.statusCode]).toEqual([JSON.stringify(body), status]);
      if (field) expect(res.json().errors[0].field).toBe(field);
    }
    // a customer never merged into it
    const [stranger] = await api.platform.ingestion.ingest([envelope()]);
    const never = await post(survivorId, { split: [{ customerId: stranger.customerId }], reason: 'x' });
    expect([never.statusCode, never.json().error]).toEqual([409, 'never_merged']);
    // only the stranger's events and the refusals' ops records were written; the merge stands
    expect(await api.platform.registry.canonicalId(splitId)).toBe(survivorId);
    const written = (await api.platform.store.readAll({ after: head })).map((e) => e.type);
    expect(written.filter((t) => t === 'customers.unmerged')).toEqual([]);
  });

  it('unmerges, answers what was recorded without identifier values, then refuses to do it twice', async () => {
    const res = await post(survivorId, { split: [{ customerId: splitId }], reason: 'CASE-2' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      survivorId,
      unmerged: [
        expect.objectContaining({
          survivorId,
          splitId,
          identifierCount: 1,
          reason: 'CASE-2',
          requestedBy: { kind: 'api-key', name: expect.any(String) },
        }),
      ],
    });
    expect(res.body).not.toContain('ben.api@example.com');
    expect(await api.platform.registry.lookup(BEN as never)).toBe(splitId);
    const again = await post(survivorId, { split: [{ customerId: splitId }], reason: 'CASE-2' });
    expect([again.statusCode, again.json().error]).toEqual([409, 'already_unmerged']);

    await api.platform.ingestion.ingest([envelope({ customer: { identifiers: [BEN, ANA] } })]);
    const conflicts = await api.app.inject({
      method: 'GET',
      url: '/v1/identity/conflicts?limit=10',
      headers: { authorization: `Bearer ${KEYS.ops}` },
    });
    expect(conflicts.statusCode).toBe(200);
    expect(conflicts.json().conflicts).toEqual([expect.objectContaining({ customerIds: [survivorId, splitId] })]);
    const bad = await api.app.inject({
      method: 'GET',
      url: '/v1/identity/conflicts?limit=0',
      headers: { authorization: `Bearer ${KEYS.ops}` },
    });
    expect(bad.statusCode).toBe(422);
  });
});
