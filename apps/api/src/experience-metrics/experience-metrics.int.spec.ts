import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/*
 * The experience-metrics API over events ingested through the API: a series read after its writes
 * (minPosition), sliced and filtered, as JSON and CSV; every bad parameter is a 422 naming it; the
 * wrong role is refused. The figures themselves are checked against a recomputation in
 * libs/read-models/src/experience-metrics/experience-metrics.int.spec.ts.
 */
describe('experience-metrics API', () => {
  let api: ApiHarness;
  let position: number;
  beforeAll(async () => {
    api = await startApi();
    const who = (n: number) => ({ identifiers: [{ kind: 'email', value: `em-${n}@example.com` }] });
    const events = [
      envelope({ type: 'survey.answered', occurredAt: '2026-11-02T10:00:00Z', channel: 'email', customer: who(1), data: { nps: 10 } }),
      envelope({ type: 'survey.answered', occurredAt: '2026-11-03T10:00:00Z', channel: 'email', customer: who(2), data: { nps: 3 } }),
      envelope({ type: 'survey.answered', occurredAt: '2026-11-10T10:00:00Z', channel: 'web', customer: who(3), data: { nps: 9 } }),
      envelope({ type: 'case.opened', occurredAt: '2026-11-02T08:00:00Z', channel: 'phone', customer: who(1), data: { caseId: 'K-1' } }),
      envelope({ type: 'case.resolved', occurredAt: '2026-11-02T12:00:00Z', channel: 'phone', customer: who(1), data: { caseId: 'K-1' } }),
    ];
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(res.statusCode).toBeLessThan(300);
    position = Math.max(...res.json().results.map((r: { position: number }) => r.position));
  });
  afterAll(() => api.close());

  const get = (url: string, key: string | null = KEYS.analyst) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('answers a weekly NPS series sliced by channel, every bucket present, after its writes', async () => {
    const res = await get(
      `/v1/experience-metrics/series?metric=nps&bucket=week&from=2026-11-01&to=2026-11-17&sliceBy=channel&minPosition=${position}`,
    );
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ metric: 'nps', bucket: 'week', timeZone: 'UTC', sliceBy: 'channel', filter: null });
    expect(body.series.map((s: { slice: string }) => s.slice)).toEqual(['email', 'web']);
    expect(body.series[0].points.map((p: Record<string, unknown>) => [p.bucket, p.start, p.end, p.value, p.responses])).toEqual([
      ['2026-10-26', '2026-10-26T00:00:00Z', '2026-11-02T00:00:00Z', null, 0],
      ['2026-11-02', '2026-11-02T00:00:00Z', '2026-11-09T00:00:00Z', 0, 2],
      ['2026-11-09', '2026-11-09T00:00:00Z', '2026-11-16T00:00:00Z', null, 0],
      ['2026-11-16', '2026-11-16T00:00:00Z', '2026-11-23T00:00:00Z', null, 0],
    ]);
    expect(body.series[1].points[2]).toMatchObject({ value: 100, promoters: 1, responses: 1 });
  });

  it('sums filtered values into one series, and exports CSV', async () => {
    const json = await get(
      '/v1/experience-metrics/series?metric=nps&bucket=month&from=2026-11-01&to=2026-12-01&filter=channel:email&filter=channel:web',
    );
    expect(json.json().series).toEqual([expect.objectContaining({ slice: '*' })]);
    expect(json.json().series[0].points[0]).toMatchObject({ value: 33.3333, promoters: 2, detractors: 1, responses: 3 });
    const csv = await get('/v1/experience-metrics/series?metric=resolution-time&bucket=day&from=2026-11-02&to=2026-11-04&format=csv');
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split('\r\n')).toEqual([
      'metric,slice,bucket,start,end,value,mean,p50,p90,count',
      expect.stringMatching(
        /^resolution-time,\*,2026-11-02,2026-11-02T00:00:00Z,2026-11-03T00:00:00Z,144\d\d(\.\d+)?,14400,144\d\d(\.\d+)?,144\d\d(\.\d+)?,1$/,
      ),
      'resolution-time,*,2026-11-03,2026-11-03T00:00:00Z,2026-11-04T00:00:00Z,,,,,0',
      '',
    ]);
  });

  it('slices by channel within a value segment (a pair of dimensions), as JSON and CSV', async () => {
    const url = '/v1/experience-metrics/series?metric=nps&bucket=month&from=2026-11-01&to=2026-12-01&sliceBy=channel&filter=segment:none';
    const json = await get(url);
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({
      sliceBy: 'channel',
      filter: { dimension: 'segment', values: ['none'] },
      filters: [{ dimension: 'segment', values: ['none'] }],
    });
    expect(json.json().series.map((l: { slice: string; points: { value: number }[] }) => [l.slice, l.points[0].value])).toEqual([
      ['email', 0],
      ['web', 100],
    ]);
    const csv = await get(`${url}&format=csv`);
    expect(csv.body.split('\r\n').slice(1, 3)).toEqual([
      'nps,email,2026-11-01,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,0,1,0,1,2',
      'nps,web,2026-11-01,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,100,1,0,0,1',
    ]);
    const high = await get(url.replace('segment:none', 'segment:high'));
    expect(high.json().series).toEqual([]);
  });

  it('lists the catalogue: metrics with their parts, dimensions, buckets, time zone, limits', async () => {
    const res = await get('/v1/experience-metrics');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      timeZone: 'UTC',
      maxBuckets: 1000,
      buckets: ['day', 'week', 'month'],
      percentileRelativeError: 0.005,
    });
    expect(res.json().metrics.map((m: { name: string }) => m.name)).toEqual(
      expect.arrayContaining(['resolution-time', 'contacts-per-customer', 'complaint-rate', 'cost-to-serve']),
    );
  });

  it.each([
    ['metric=bogus&bucket=day&from=2026-01-01&to=2026-02-01', 'metric', /unknown metric/],
    ['bucket=day&from=2026-01-01&to=2026-02-01', 'metric', /required/],
    ['metric=nps&bucket=hour&from=2026-01-01&to=2026-02-01', 'bucket', /day, week, month/],
    ['metric=nps&bucket=day&from=2026-02-30&to=2026-03-01', 'from', /calendar date/],
    ['metric=nps&bucket=day&from=2026-01-01&to=tomorrow', 'to', /calendar date/],
    ['metric=nps&bucket=day&from=2026-02-01&to=2026-01-01', 'to', /after from/],
    ['metric=nps&bucket=day&from=2020-01-01&to=2026-01-01', 'to', /at most 1000/],
    ['metric=nps&bucket=day&from=0001-01-01&to=9999-12-31', 'to', /more than 1000 day buckets/],
    ['metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&timeZone=Mars/Olympus', 'timeZone', /unknown time zone/],
    ['metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&timeZone=Europe/Berlin', 'timeZone', /reporting time zone UTC/],
    ['metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&sliceBy=planet', 'sliceBy', /unknown slice/],
    ['metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&filter=planet:mars', 'filter', /dimension:value/],
    ['metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&filter=channel:web&filter=source:x', 'filter', /cannot be combined/],
    ['metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&sliceBy=channel&filter=agent:a', 'filter', /channel, agent cannot be combined/],
    [
      'metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&sliceBy=channel&filter=segment:high&filter=source:x',
      'filter',
      /channel, segment, source cannot be combined/,
    ],
    ['metric=churned-customers&bucket=month&from=2026-01-01&to=2026-02-01&sliceBy=segment', 'sliceBy', /whole customer base/],
    ['metric=retained-customers&bucket=month&from=2026-01-01&to=2026-02-01&filter=channel:phone', 'filter', /whole customer base/],
    ['metric=nps&bucket=day&from=2026-01-01&to=2026-02-01&color=red', 'color', /not a known field/],
    // the harness sets no CONTACT_COSTS
    ['metric=cost-to-serve&bucket=day&from=2026-01-01&to=2026-02-01', 'metric', /CONTACT_COSTS is not configured/],
  ])('refuses %s with a 422 naming %s', async (query, field, reason) => {
    const res = await get(`/v1/experience-metrics/series?${query}`);
    expect(res.statusCode).toBe(422);
    const errors = res.json().errors as { field: string; reason: string }[];
    expect(errors).toEqual(expect.arrayContaining([expect.objectContaining({ field, reason: expect.stringMatching(reason) })]));
  });

  it.each([
    ['/v1/experience-metrics', KEYS.ingest, 403],
    ['/v1/experience-metrics/series?metric=nps&bucket=day&from=2026-01-01&to=2026-02-01', KEYS.ops, 403],
    ['/v1/experience-metrics/series?metric=nps&bucket=day&from=2026-01-01&to=2026-02-01', null, 401],
  ])('refuses %s to the wrong role or no key', async (url, key, status) => {
    expect((await get(url, key)).statusCode).toBe(status);
  });
});
