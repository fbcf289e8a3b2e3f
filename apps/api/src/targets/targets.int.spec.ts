import type { TargetMetricSource, TargetPoint } from '@cem/read-models/targets';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/**
 * The targets API over a metric source of known monthly values (the experience-metrics read model
 * is the real source; here the series is given, so the status is checked against a plain
 * recomputation of the documented method written in the test).
 */
const MONTHLY_NPS: Record<string, number | null> = {
  '2026-01': 30,
  '2026-02': 32,
  '2026-03': null,
  '2026-04': 35,
  '2026-05': 36,
  '2026-06': 38,
};

const monthStart = (y: number, m: number) => new Date(Date.UTC(y, m, 1)).toISOString();
const fakeMetrics: TargetMetricSource = {
  metricNames: ['nps', 'csat'],
  dimensions: ['segment', 'channel'],
  async series({ from, through, slice }) {
    const points: TargetPoint[] = [];
    let [y, m] = [Number(from.slice(0, 4)), Number(from.slice(5, 7)) - 1];
    const last = Number(through.slice(0, 4)) * 12 + Number(through.slice(5, 7)) - 1;
    for (; y * 12 + m <= last; m === 11 ? ((m = 0), y++) : m++) {
      const key = monthStart(y, m).slice(0, 7);
      const value = slice?.value === 'high' ? (MONTHLY_NPS[key] ?? null) : null;
      points.push({ start: monthStart(y, m), end: monthStart(m === 11 ? y + 1 : y, (m + 1) % 12), value });
    }
    return points;
  },
};

/** the documented method, written again: least squares over complete months' midpoints (days), projected to the due bucket's end */
function expectedProjection(values: [string, number][], dueEnd: string): number {
  const pts = values.map(([month, v]) => {
    const start = Date.parse(`${month}-01T00:00:00Z`);
    const d = new Date(start);
    const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    return [(start + end) / 2 / 86_400_000, v];
  });
  const n = pts.length;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, y]) => a + y, 0) / n;
  const b = pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / pts.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return my + b * (Date.parse(dueEnd) / 86_400_000 - mx);
}

describe('targets API', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi({}, { targetMetrics: fakeMetrics })));
  afterAll(() => api.close());

  const send = (method: 'POST' | 'PUT', url: string, body: unknown, key = KEYS.analyst) =>
    api.app.inject({
      method,
      url,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      payload: JSON.stringify(body),
    });
  const get = (url: string, key: string | null = KEYS.analyst) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const TARGET = {
    name: 'NPS of high-value customers',
    metric: 'nps',
    slice: { dimension: 'segment', value: 'high' },
    direction: 'at-least',
    threshold: 40,
    startDate: '2026-01-01',
    dueDate: '2026-09-30',
  };

  it('creates a target as a target.created event and reads it back with its status (read-your-writes)', async () => {
    const res = await send('POST', '/v1/targets', { targetId: 'nps-high', ...TARGET });
    expect(res.statusCode).toBe(201);
    const written = res.json();
    expect(written).toMatchObject({ targetId: 'nps-high', version: 1 });
    const [event] = await api.platform.store.readStream('target-nps-high');
    expect(event).toMatchObject({ type: 'target.created', position: written.position });
    expect(event.data).toEqual({ targetId: 'nps-high', version: 1, target: { ...TARGET, bucket: 'month' }, changedBy: 'config-2' });

    const at = '2026-07-15T00:00:00Z';
    const report = (await get(`/v1/targets/nps-high?minPosition=${written.position}&at=${at}`)).json();
    expect(report).toMatchObject({ targetId: 'nps-high', version: 1, target: { ...TARGET, bucket: 'month' } });
    // complete months by 2026-07-15: January to June, five with a value; due bucket September ends 2026-10-01
    const projected = expectedProjection(
      Object.entries(MONTHLY_NPS).filter((e): e is [string, number] => e[1] !== null),
      '2026-10-01T00:00:00.000Z',
    );
    expect(report.status).toMatchObject({ status: projected >= 40 ? 'on-track' : 'at-risk', current: 38, points: 5 });
    expect(report.status.projected).toBeCloseTo(projected, 3);
    expect(report.series).toHaveLength(9);
    expect(report.history.map((h: { at: string; status: string }) => [h.at.slice(0, 10), h.status])).toEqual([
      ['2026-02-01', 'at-risk'], // one value (30): below 40
      ['2026-03-01', 'at-risk'],
      ['2026-04-01', 'at-risk'], // March has no data: still two values
      ['2026-05-01', report.history[3].projected >= 40 ? 'on-track' : 'at-risk'],
      ['2026-06-01', report.history[4].projected >= 40 ? 'on-track' : 'at-risk'],
      ['2026-07-01', report.status.status],
    ]);
    expect(report.changes).toEqual([expect.objectContaining({ version: 1, kind: 'created', changedBy: 'config-2' })]);
  });

  it('changes a target as a new version (target.changed) and keeps every version; met or missed once the due bucket is complete', async () => {
    const res = await send('PUT', '/v1/targets/nps-high', { ...TARGET, threshold: 35, dueDate: '2026-05-31' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ targetId: 'nps-high', version: 2 });
    const events = await api.platform.store.readStream('target-nps-high');
    expect(events.map((e) => e.type)).toEqual(['target.created', 'target.changed']);
    const report = (await get(`/v1/targets/nps-high?minPosition=${res.json().position}&at=2026-07-15T00:00:00Z`)).json();
    expect(report.status).toMatchObject({ status: 'met', current: 36 }); // the due bucket, May: 36 >= 35
    expect(
      report.changes.map((c: { version: number; kind: string; target: { threshold: number } }) => [c.version, c.kind, c.target.threshold]),
    ).toEqual([
      [1, 'created', 40],
      [2, 'changed', 35],
    ]);
    const missed = await send('PUT', '/v1/targets/nps-high', { ...TARGET, threshold: 37, dueDate: '2026-05-31' });
    const after = (await get(`/v1/targets/nps-high?minPosition=${missed.json().position}&at=2026-07-15T00:00:00Z`)).json();
    expect(after.status).toMatchObject({ status: 'missed', current: 36 });
    expect(after.version).toBe(3);
  });

  it('lists targets with their status and exports the list and a status history as CSV', async () => {
    const created = await send('POST', '/v1/targets', {
      targetId: 'csat-web',
      ...TARGET,
      metric: 'csat',
      slice: null,
      direction: 'at-most',
      threshold: 2,
    });
    expect(created.statusCode).toBe(201);
    const list = (await get(`/v1/targets?minPosition=${created.json().position}&at=2026-07-15T00:00:00Z`)).json();
    expect(list.items.map((i: { targetId: string; status: { status: string } }) => [i.targetId, i.status.status])).toEqual([
      ['csat-web', 'at-risk'], // no data at all
      ['nps-high', 'missed'],
    ]);
    const csv = await get('/v1/targets?format=csv&at=2026-07-15T00:00:00Z');
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = csv.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'asOf,targetId,version,name,metric,sliceDimension,sliceValue,direction,threshold,bucket,startDate,dueDate,status,reason,current,currentBucket,projected,slopePer30Days,points',
    );
    expect(lines).toHaveLength(3);
    expect(
      lines[2].startsWith(
        '2026-07-15T00:00:00.000Z,nps-high,3,NPS of high-value customers,nps,segment,high,at-least,37,month,2026-01-01,2026-05-31,missed,',
      ),
    ).toBe(true);
    const history = await get('/v1/targets/nps-high?format=csv&at=2026-07-15T00:00:00Z');
    expect(history.body.split('\r\n')[0]).toBe('targetId,at,status,reason,current,currentBucket,projected,slopePer30Days,points');
  });

  it('refuses bad targets with a 422 naming the field, and writes nothing', async () => {
    const before = await api.platform.store.headPosition();
    const cases: [Record<string, unknown>, string][] = [
      [{ ...TARGET, metric: 'happiness' }, 'metric'],
      [{ ...TARGET, slice: { dimension: 'planet', value: 'mars' } }, 'slice.dimension'],
      [{ ...TARGET, dueDate: '2025-12-31' }, 'dueDate'],
      [{ ...TARGET, dueDate: '2026-02-30' }, 'dueDate'],
      [{ ...TARGET, dueDate: '2040-01-01' }, 'dueDate'],
      [{ ...TARGET, startDate: '1 Jan 2026' }, 'startDate'],
      [{ ...TARGET, direction: 'above' }, 'direction'],
      [{ ...TARGET, threshold: 'forty' }, 'threshold'],
      [{ ...TARGET, bucket: 'day' }, 'bucket'],
      [{ ...TARGET, name: '' }, 'name'],
      [{ ...TARGET, owner: 'me' }, 'owner'],
      [{ ...TARGET, targetId: 'Bad Id' }, 'targetId'],
    ];
    for (const [body, field] of cases) {
      const res = await send('POST', '/v1/targets', { targetId: 'bad-one', ...body });
      expect([field, res.statusCode]).toEqual([field, 422]);
      expect([field, res.json().errors.map((e: { field: string }) => e.field)]).toEqual([field, [field]]);
    }
    expect(await api.platform.store.headPosition()).toBe(before);
  });

  it('answers 409 for an existing id, 404 for changing or reading an unknown one', async () => {
    expect((await send('POST', '/v1/targets', { targetId: 'nps-high', ...TARGET })).statusCode).toBe(409);
    expect((await send('PUT', '/v1/targets/nobody', TARGET)).statusCode).toBe(404);
    expect((await get('/v1/targets/nobody')).statusCode).toBe(404);
  });

  it('needs the analyst role', async () => {
    for (const key of [KEYS.ingest, KEYS.ops]) {
      expect((await send('POST', '/v1/targets', { targetId: 'x', ...TARGET }, key)).statusCode).toBe(403);
      expect((await send('PUT', '/v1/targets/nps-high', TARGET, key)).statusCode).toBe(403);
      expect((await get('/v1/targets', key)).statusCode).toBe(403);
      expect((await get('/v1/targets/nps-high', key)).statusCode).toBe(403);
    }
    expect((await get('/v1/targets', null)).statusCode).toBe(401);
  });
});

describe('targets over the experience metrics (the real metric source)', () => {
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi()));
  afterAll(() => api.close());

  // NPS answers by month on email (the slice) and on the web (outside it)
  const ANSWERS: Record<string, number[]> = {
    '2026-01': [10, 9, 3, 7, 0],
    '2026-02': [10, 8, 6, 9],
    '2026-03': [9, 9, 2],
    '2026-04': [10, 10, 9, 5, 7, 8],
  };

  it('refuses a target on cost-to-serve where CONTACT_COSTS is not configured (the harness sets none), naming metric', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/targets',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.analyst}` },
      payload: JSON.stringify({
        targetId: 'cost-phone',
        name: 'Cost to serve',
        metric: 'cost-to-serve',
        direction: 'at-most',
        threshold: 1000,
        startDate: '2026-01-01',
        dueDate: '2026-08-31',
      }),
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors).toEqual([expect.objectContaining({ field: 'metric' })]);
  });

  it('refuses a slice on churned-customers and retained-customers (whole-customer-base figures) with a 422 naming slice; nothing written', async () => {
    const before = await api.platform.store.headPosition();
    for (const metric of ['churned-customers', 'retained-customers']) {
      const body = {
        targetId: `${metric}-high`,
        name: `${metric} of high-value customers`,
        metric,
        slice: { dimension: 'segment', value: 'high' },
        direction: 'at-most',
        threshold: 100,
        startDate: '2026-01-01',
        dueDate: '2026-08-31',
      };
      const res = await api.app.inject({
        method: 'POST',
        url: '/v1/targets',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.analyst}` },
        payload: JSON.stringify(body),
      });
      expect([metric, res.statusCode]).toEqual([metric, 422]);
      expect([metric, res.json().errors]).toEqual([metric, [{ field: 'slice', reason: expect.stringContaining('has no slices') }]]);
      // the same target without a slice is accepted: the refusal is about the slice only
      const { slice: _slice, ...unsliced } = body;
      const accepted = await api.app.inject({
        method: 'POST',
        url: '/v1/targets',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.analyst}` },
        payload: JSON.stringify({ ...unsliced, targetId: `${metric}-all` }),
      });
      expect([metric, accepted.statusCode]).toEqual([metric, 201]);
      // and changing it to a sliced one is refused too, the stored version untouched
      const changed = await api.app.inject({
        method: 'PUT',
        url: `/v1/targets/${metric}-all`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.analyst}` },
        payload: JSON.stringify({ ...unsliced, targetId: undefined, slice: body.slice }),
      });
      expect([metric, changed.statusCode, changed.json().errors?.[0]?.field]).toEqual([metric, 422, 'slice']);
    }
    // the only events written are the two unsliced targets' creations
    const written = await api.platform.store.readAll({ after: before });
    expect(written.map((e) => [e.type, (e.data as { targetId?: string }).targetId])).toEqual([
      ['target.created', 'churned-customers-all'],
      ['target.created', 'retained-customers-all'],
    ]);
  });

  it('a target on an analyst segment (slice segmentId) must name an active segment: unknown or archived is a 422 naming slice.value; nothing written', async () => {
    const send = (method: 'POST' | 'DELETE', url: string, body?: unknown) =>
      api.app.inject({
        method,
        url,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          authorization: `Bearer ${KEYS.analyst}`,
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
    const rule = { fact: 'netValue', op: '>', value: 100 };
    expect((await send('POST', '/v1/segments', { segmentId: 'big-spenders', name: 'Big spenders', rule })).statusCode).toBe(201);
    expect((await send('POST', '/v1/segments', { segmentId: 'old-spenders', name: 'Old spenders', rule })).statusCode).toBe(201);
    expect((await send('DELETE', '/v1/segments/old-spenders')).statusCode).toBe(200);
    const target = (targetId: string, segmentId: string) => ({
      targetId,
      name: `NPS of ${segmentId}`,
      metric: 'nps',
      slice: { dimension: 'segmentId', value: segmentId },
      direction: 'at-least',
      threshold: 30,
      startDate: '2026-01-01',
      dueDate: '2026-08-31',
    });
    const before = await api.platform.store.headPosition();
    for (const [segmentId, reason] of [
      ['no-such-segment', /not a segment/],
      ['old-spenders', /archived/],
    ] as const) {
      const res = await send('POST', '/v1/targets', target(`nps-${segmentId}`, segmentId));
      expect([segmentId, res.statusCode]).toEqual([segmentId, 422]);
      expect(res.json().errors).toEqual([{ field: 'slice.value', reason: expect.stringMatching(reason) }]);
    }
    expect(await api.platform.store.readAll({ after: before })).toEqual([]);
    const accepted = await send('POST', '/v1/targets', target('nps-big-spenders', 'big-spenders'));
    expect(accepted.statusCode).toBe(201);
  });

  it('reads the metric of the slice from the experience metrics; the status matches a plain recomputation from the answers', async () => {
    const events: Record<string, unknown>[] = [];
    for (const [month, scores] of Object.entries(ANSWERS))
      scores.forEach((nps, i) => {
        const occurredAt = `${month}-${String(3 + i * 4).padStart(2, '0')}T10:00:00Z`;
        const customer = { identifiers: [{ kind: 'email', value: `t${month}-${i}@example.com` }] };
        events.push(envelope({ customer, occurredAt, type: 'survey.answered', channel: 'email', data: { nps } }));
        events.push(envelope({ customer, occurredAt, type: 'survey.answered', channel: 'web', data: { nps: 0 } }));
      });
    const ingested = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(ingested.statusCode).toBe(200);
    const target = {
      name: 'NPS by email',
      metric: 'nps',
      slice: { dimension: 'channel', value: 'email' },
      direction: 'at-least',
      threshold: 30,
    };
    const created = await api.app.inject({
      method: 'POST',
      url: '/v1/targets',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.analyst}` },
      payload: JSON.stringify({ targetId: 'nps-email', ...target, startDate: '2026-01-01', dueDate: '2026-08-31' }),
    });
    expect(created.statusCode).toBe(201);
    const res = await api.app.inject({
      method: 'GET',
      url: `/v1/targets/nps-email?minPosition=${created.json().position}&at=2026-05-10T00:00:00Z`,
      headers: { authorization: `Bearer ${KEYS.analyst}` },
    });
    expect(res.statusCode).toBe(200);
    const report = res.json();
    // NPS per month, recomputed here: % promoters (9-10) - % detractors (0-6) of the email answers
    const nps = (scores: number[]) => ((scores.filter((s) => s >= 9).length - scores.filter((s) => s <= 6).length) / scores.length) * 100;
    const expected = Object.entries(ANSWERS).map(([month, scores]) => [month, nps(scores)] as [string, number]);
    expect(report.series.map((p: { start: string }) => p.start.slice(0, 7))).toEqual([
      '2026-01',
      '2026-02',
      '2026-03',
      '2026-04',
      '2026-05',
      '2026-06',
      '2026-07',
      '2026-08',
    ]);
    report.series.slice(0, 4).forEach((p: { value: number }, i: number) => expect(p.value).toBeCloseTo(expected[i][1], 1));
    expect(report.series.slice(4).map((p: { value: number | null }) => p.value)).toEqual([null, null, null, null]);
    const projected = expectedProjection(expected, '2026-09-01T00:00:00.000Z');
    expect(report.status).toMatchObject({ status: projected >= 30 ? 'on-track' : 'at-risk', points: 4 });
    expect(report.status.projected).toBeCloseTo(projected, 1);
  });
});

describe('a target whose metric can no longer be computed', () => {
  // the source lists cost-to-serve while CONTACT_COSTS is set; the setting is then removed
  const source = {
    metricNames: ['nps', 'cost-to-serve'] as readonly string[],
    dimensions: ['segment'],
    unavailableReason: (metric: string) => `${metric} needs a cost per contact channel: CONTACT_COSTS is not configured`,
    // as the real source: a metric it cannot compute is refused (MetricQueryError, before the fix a 500)
    async series(q) {
      if (!source.metricNames.includes(q.metric)) throw new Error(source.unavailableReason(q.metric));
      return fakeMetrics.series(q);
    },
  } satisfies TargetMetricSource;
  let api: ApiHarness;
  beforeAll(async () => (api = await startApi({}, { targetMetrics: source })));
  afterAll(() => api.close());

  it('is listed and read with the status unavailable and the reason, not a failure', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: '/v1/targets',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.analyst}` },
      payload: JSON.stringify({
        targetId: 'cost-all',
        name: 'Cost to serve',
        metric: 'cost-to-serve',
        direction: 'at-most',
        threshold: 1000,
        startDate: '2026-01-01',
        dueDate: '2026-08-31',
      }),
    });
    expect(created.statusCode).toBe(201);
    const { position } = created.json();
    source.metricNames = ['nps'];
    const headers = { authorization: `Bearer ${KEYS.analyst}` };
    const one = await api.app.inject({ method: 'GET', url: `/v1/targets/cost-all?minPosition=${position}`, headers });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({
      targetId: 'cost-all',
      status: {
        status: 'unavailable',
        reason: 'cost-to-serve needs a cost per contact channel: CONTACT_COSTS is not configured',
        current: null,
        projected: null,
        points: 0,
      },
      history: [],
      series: [],
    });
    const list = await api.app.inject({ method: 'GET', url: `/v1/targets?minPosition=${position}`, headers });
    expect(list.statusCode).toBe(200);
    expect(list.json().items).toEqual([
      expect.objectContaining({ targetId: 'cost-all', status: expect.objectContaining({ status: 'unavailable' }) }),
    ]);
    const csv = await api.app.inject({ method: 'GET', url: `/v1/targets?format=csv&minPosition=${position}`, headers });
    expect(csv.statusCode).toBe(200);
    expect(csv.body).toContain(',unavailable,');
  });
});
