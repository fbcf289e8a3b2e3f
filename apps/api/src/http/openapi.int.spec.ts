import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOUCHPOINT_TYPES } from '@cem/domain';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

type Schema = Record<string, any>;
type Operation = {
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, unknown>;
};

/** Issue 10, finding 11: the OpenAPI document is complete enough for a fuzzer (schemathesis). */
describe('OpenAPI document', () => {
  let api: ApiHarness;
  let doc: {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, Schema>; securitySchemes: Record<string, Schema> };
  };
  beforeAll(async () => {
    api = await startApi();
    const res = await api.app.inject({ method: 'GET', url: '/docs/openapi.json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(() => api.close());

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ id: `${method.toUpperCase()} ${path}`, method, path, op })),
    );
  const resolve = (s: Schema): Schema => (s.$ref ? doc.components.schemas[s.$ref.split('/').pop()!] : s);

  it('declares both security schemes the API accepts, and every protected operation accepts either', () => {
    expect(doc.components.securitySchemes).toEqual({
      'api-key': { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'API key' },
    });
    const secured = operations().filter(({ path }) => !path.startsWith('/health'));
    expect(secured.length).toBeGreaterThan(5);
    for (const { id, op } of secured) expect([id, op.security]).toEqual([id, [{ 'api-key': [] }, { bearer: [] }]]);
    for (const { id, op } of operations().filter(({ path }) => path.startsWith('/health'))) expect([id, op.security]).toEqual([id, []]);
  });

  it('has a request body schema for every POST and PUT', () => {
    const writes = operations().filter(({ method }) => method === 'post' || method === 'put');
    expect(writes.map((w) => w.id).sort()).toEqual([
      'POST /v1/admin/erasures',
      'POST /v1/admin/log/verifications',
      'POST /v1/admin/read-models/verifications',
      'POST /v1/admin/rebuilds',
      'POST /v1/admin/rebuilds/{id}/drop',
      'POST /v1/admin/rebuilds/{id}/switch',
      'POST /v1/admin/subject-exports',
      'POST /v1/customers/{customerId}/unmerge',
      'POST /v1/events',
      'POST /v1/events:batch',
      'POST /v1/imports',
      'POST /v1/segments',
      'POST /v1/segments/dry-run',
      'POST /v1/targets',
      'POST /v1/webhooks',
      'PUT /v1/imports/{jobId}/file',
      'PUT /v1/segments/{segmentId}',
      'PUT /v1/targets/{targetId}',
    ]);
    for (const { id, op } of writes) {
      expect([id, Object.keys(op.requestBody?.content ?? {}).length > 0]).toEqual([id, true]);
      for (const media of Object.values(op.requestBody!.content)) expect([id, media.schema]).toEqual([id, expect.any(Object)]);
    }
    const batch = resolve(doc.paths['/v1/events:batch'].post.requestBody!.content['application/json'].schema);
    expect(batch).toMatchObject({ type: 'object', required: ['events'], additionalProperties: false });
    expect(batch.properties.events).toMatchObject({ type: 'array', minItems: 1, maxItems: 1000 });
    const create = resolve(doc.paths['/v1/imports'].post.requestBody!.content['application/json'].schema);
    expect(create).toMatchObject({ type: 'object', required: ['mapping'] });
  });

  it('describes each event type with its own data schema (one envelope per type and payload version)', () => {
    const one = resolve(doc.paths['/v1/events'].post.requestBody!.content['application/json'].schema);
    const variants: Schema[] = one.oneOf.map(resolve);
    const types = variants.map((v) => v.properties.type.enum[0]);
    expect([...new Set(types)].sort()).toEqual([...TOUCHPOINT_TYPES].sort());
    for (const v of variants) {
      expect(v).toMatchObject({ type: 'object', additionalProperties: false });
      expect(v.required).toEqual(expect.arrayContaining(['eventId', 'type', 'occurredAt', 'source', 'channel', 'customer', 'data']));
      const data = resolve(v.properties.data);
      expect([v.properties.type.enum[0], data.type, data.additionalProperties]).toEqual([v.properties.type.enum[0], 'object', false]);
    }
    const purchase = resolve(variants.find((v) => v.properties.type.enum[0] === 'purchase.completed')!.properties.data);
    expect(purchase.required.sort()).toEqual(['amount', 'currency', 'orderId']);
    expect(purchase.properties.currency).toMatchObject({ type: 'string', pattern: '^[A-Z]{3}$' });
    expect(purchase.properties.amount).toMatchObject({ type: 'number', minimum: 0 });
    expect(purchase.properties.items).toMatchObject({ type: 'integer', minimum: 0, maximum: 1_000_000 });
    // survey.answered has two payload versions: schemaVersion 1 must be said, 2 is the default
    expect(types.filter((t) => t === 'survey.answered')).toHaveLength(2);
  });

  it('documents every status the API answers: 400, 401, 403, 409, 413, 415, 422 and 503 where they can occur', () => {
    const expected = (id: string, codes: string[], op: Operation) => expect([id, codes.filter((c) => !op.responses[c])]).toEqual([id, []]);
    for (const { id, path, op, method } of operations()) {
      if (path.startsWith('/health')) continue;
      expected(id, ['401', '403', '503'], op);
      if (op.requestBody?.content['application/json']) expected(id, ['400', '413', '415', '422'], op);
      if (method === 'put') expected(id, ['413', '415'], op);
    }
    expected('POST /v1/events', ['200', '201', '409'], doc.paths['/v1/events'].post);
    expected('POST /v1/events:batch', ['200', '409'], doc.paths['/v1/events:batch'].post);
    expect(doc.components.schemas.ErrorBody).toMatchObject({ required: ['statusCode', 'error', 'message'] });
  });

  it('names every DTO class once: schemas are keyed by class name, so a second class of one name replaces the first', () => {
    // two `ChurnFactorDto` classes (customer 360 and churn-risk API) made the 360's answers violate
    // their own schema; the CI fuzzer found it
    const apiDir = join(__dirname, '..');
    const files = (readdirSync(apiDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
    const declared = files.flatMap((f) =>
      [...readFileSync(join(apiDir, f), 'utf8').matchAll(/^(?:export )?class (\w+Dto)\b/gm)].map((m) => ({ name: m[1], file: f })),
    );
    expect(declared.length).toBeGreaterThan(20);
    const seen = new Map<string, string>();
    const twice = declared
      .filter(({ name, file }) => seen.has(name) || !seen.set(name, file))
      .map(({ name }) => `${name}: ${seen.get(name)}`);
    expect(twice).toEqual([]);
  });

  it('answers TRACE with 405, not 404', async () => {
    const res = await api.app.inject({ method: 'TRACE' as 'GET', url: '/v1/events', headers: { authorization: `Bearer ${KEYS.ingest}` } });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBeDefined();
  });
});
