import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

const mapping = {
  name: 'shop',
  source: 'shop',
  input: { format: 'csv', separator: ';', header: true },
  key: ['order'],
  events: [
    {
      name: 'purchase',
      type: 'purchase.completed',
      occurredAt: { column: 'date', type: 'date', format: 'YYYY-MM-DD' },
      channel: 'store',
      customer: [{ kind: 'email', value: { column: 'email' } }],
      data: { orderId: { column: 'order' }, amount: { column: 'amount', type: 'number', decimal: ',' }, currency: 'EUR' },
    },
  ],
};
const file =
  [
    'order;date;email;amount',
    'o1;2024-01-02;ana@example.com;12,50',
    'o2;2024-13-01;bo@example.com;3',
    'o3;2024-01-03;;4',
    'o4;2024-01-04;cy@example.com;5',
  ].join('\n') + '\n';

describe('HTTP import jobs', () => {
  let api: ApiHarness;
  beforeEach(async () => (api = await startApi()));
  afterEach(() => api.close());

  const call = (
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    payload?: string,
    contentType = 'application/json',
    key: string | null = KEYS.ingest,
  ) =>
    api.app.inject({
      method,
      url,
      payload,
      headers: { ...(payload !== undefined ? { 'content-type': contentType } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
    });

  /** polls the job's own status until it is done: the job runs in the background by design */
  const finished = async (jobId: string) => {
    for (let i = 0; i < 500; i++) {
      const job = (await call('GET', `/v1/imports/${jobId}`)).json();
      if (job.status === 'completed' || job.status === 'failed') return job;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the import job did not finish');
  };

  it('creates a job, takes the file, imports it in the background and serves the reject report', async () => {
    const created = await call('POST', '/v1/imports', JSON.stringify({ mapping }));
    expect(created.statusCode).toBe(201);
    const { jobId, status, uploadUrl } = created.json();
    expect(status).toBe('awaiting_upload');
    expect(uploadUrl).toBe(`/v1/imports/${jobId}/file`);

    const uploaded = await call('PUT', uploadUrl, file, 'text/csv');
    expect(uploaded.statusCode).toBe(202);
    expect(uploaded.json()).toMatchObject({ status: 'queued', uploadedBytes: Buffer.byteLength(file) });

    const job = await finished(jobId);
    expect(job).toMatchObject({
      status: 'completed',
      counts: { rowsRead: 4, eventsImported: 2, eventsDuplicate: 0, rowsRejected: 2, rowsFiltered: 0 },
    });
    const rejects = await call('GET', `/v1/imports/${jobId}/rejects`);
    expect(rejects.statusCode).toBe(200);
    expect(rejects.headers['content-type']).toContain('text/csv');
    expect(rejects.body.trim().split('\n')).toEqual([
      'line,event,field,reason',
      '3,purchase,occurredAt,"column ""date"": ""2024-13-01"" has month 13"',
      '4,purchase,customer.identifiers.0.value,"column ""email"" is empty"',
    ]);
    expect((await call('PUT', uploadUrl, file, 'text/csv')).statusCode).toBe(409);

    // the same file again: nothing new
    const second = (await call('POST', '/v1/imports', JSON.stringify({ mapping }))).json();
    await call('PUT', second.uploadUrl, file, 'application/octet-stream');
    expect(await finished(second.jobId)).toMatchObject({ counts: { eventsImported: 0, eventsDuplicate: 2, rowsRejected: 2 } });
  });

  it('refuses a bad mapping at once, naming each mapping path', async () => {
    const bad = { ...mapping, input: { format: 'xls' }, events: [{ ...mapping.events[0], channel: 'pigeon' }] };
    const res = await call('POST', '/v1/imports', JSON.stringify({ mapping: bad }));
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      error: 'invalid_mapping',
      errors: expect.arrayContaining([
        { field: 'mapping.input.format', reason: 'must be "csv" or "ndjson"' },
        expect.objectContaining({ field: 'mapping.events[0].channel' }),
      ]),
    });
    expect((await call('POST', '/v1/imports', JSON.stringify({}))).json().errors).toEqual([
      { field: 'mapping', reason: 'a mapping must be a JSON object' },
    ]);
  });

  it('reports a file the mapping cannot read as a failed job with the reason', async () => {
    const { jobId, uploadUrl } = (await call('POST', '/v1/imports', JSON.stringify({ mapping }))).json();
    await call('PUT', uploadUrl, 'order;day;email;amount\no1;2024-01-02;ana@example.com;1\n', 'text/csv');
    const job = await finished(jobId);
    expect(job).toMatchObject({
      status: 'failed',
      error: { problems: [expect.objectContaining({ path: 'events[0].occurredAt.column' })] },
    });
    expect(await api.platform.store.headPosition()).toBe(0);
  });

  it('answers 404 for unknown jobs', async () => {
    expect((await call('GET', '/v1/imports/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await call('GET', '/v1/imports/not-a-job/rejects')).statusCode).toBe(404);
  });

  it('refuses keys without the ingest role on every endpoint (ops may only read status and rejects)', async () => {
    const { jobId } = (await call('POST', '/v1/imports', JSON.stringify({ mapping }))).json();
    for (const key of [KEYS.analyst, KEYS.ops]) {
      expect((await call('POST', '/v1/imports', JSON.stringify({ mapping }), 'application/json', key)).statusCode).toBe(403);
      expect((await call('PUT', `/v1/imports/${jobId}/file`, file, 'text/csv', key)).statusCode).toBe(403);
    }
    expect((await call('GET', `/v1/imports/${jobId}`, undefined, undefined, KEYS.analyst)).statusCode).toBe(403);
    expect((await call('GET', `/v1/imports/${jobId}/rejects`, undefined, undefined, KEYS.analyst)).statusCode).toBe(403);
    expect((await call('GET', `/v1/imports/${jobId}`, undefined, undefined, null)).statusCode).toBe(401);
  });

  it('scopes a job to the key that created it: another ingest key gets 404 (as for an unknown job); an ops key may read it', async () => {
    const other = api.platform.apiKeys.create('other integration', ['ingest']).key;
    const { jobId, uploadUrl } = (await call('POST', '/v1/imports', JSON.stringify({ mapping }))).json();
    // before the upload, another key can neither upload nor read
    expect((await call('PUT', uploadUrl, file, 'text/csv', other)).statusCode).toBe(404);
    expect((await call('GET', `/v1/imports/${jobId}`, undefined, undefined, other)).statusCode).toBe(404);
    expect((await call('PUT', uploadUrl, file, 'text/csv')).statusCode).toBe(202);
    await finished(jobId);

    const status = await call('GET', `/v1/imports/${jobId}`, undefined, undefined, other);
    const rejects = await call('GET', `/v1/imports/${jobId}/rejects`, undefined, undefined, other);
    const unknown = await call('GET', '/v1/imports/00000000-0000-4000-8000-000000000000', undefined, undefined, other);
    expect([status.statusCode, rejects.statusCode]).toEqual([404, 404]);
    expect(status.body).not.toContain('rowsRead');
    expect(rejects.body).not.toContain('2024-13-01'); // the reject report quotes file content
    expect(status.json().message).toBe(unknown.json().message.replace('00000000-0000-4000-8000-000000000000', jobId)); // nothing reveals that it exists

    expect((await call('GET', `/v1/imports/${jobId}`, undefined, undefined, KEYS.ops)).json()).toMatchObject({
      jobId,
      status: 'completed',
    });
    expect((await call('GET', `/v1/imports/${jobId}/rejects`, undefined, undefined, KEYS.ops)).body).toContain('2024-13-01');
    expect((await call('GET', `/v1/imports/${jobId}`)).json()).not.toHaveProperty('ownerKeyId');

    // the other key's own job is its own
    const mine = (await call('POST', '/v1/imports', JSON.stringify({ mapping }), 'application/json', other)).json();
    expect((await call('GET', `/v1/imports/${mine.jobId}`, undefined, undefined, other)).statusCode).toBe(200);
    expect((await call('GET', `/v1/imports/${mine.jobId}`)).statusCode).toBe(404);
  });
});
