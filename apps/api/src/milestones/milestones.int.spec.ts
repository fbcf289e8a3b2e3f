import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/** The milestones API over the built-in definitions (no milestones.json in the data directory). */
describe('milestones query API', () => {
  let api: ApiHarness;
  let ids: Record<'ana' | 'bo' | 'cy', string>;
  let head = 0;
  const AT = '2026-11-21T12:00:00Z';

  const get = (url: string, key: string | null = KEYS.analyst) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const person = (name: string) => ({ customer: { identifiers: [{ kind: 'email', value: `${name}@example.com` }] } });
  const purchase = (name: string, occurredAt: string) =>
    envelope({
      ...person(name),
      occurredAt,
      type: 'purchase.completed',
      channel: 'web',
      data: { orderId: `o-${occurredAt}`, amount: 10, currency: 'EUR' },
    });

  beforeAll(async () => {
    api = await startApi();
    const events = [
      // ana: first touch 2026-01-05, bought 5 days later, a case resolved, then a promoter
      envelope({
        ...person('ana'),
        occurredAt: '2026-01-05T10:00:00Z',
        type: 'web.visited',
        channel: 'web',
        data: { url: 'https://shop.example.com/' },
      }),
      purchase('ana', '2026-01-10T10:00:00Z'),
      envelope({ ...person('ana'), occurredAt: '2026-02-01T10:00:00Z', type: 'case.opened', channel: 'phone', data: { caseId: 'K1' } }),
      envelope({ ...person('ana'), occurredAt: '2026-02-03T10:00:00Z', type: 'case.resolved', channel: 'phone', data: { caseId: 'K1' } }),
      envelope({ ...person('ana'), occurredAt: '2026-03-01T10:00:00Z', type: 'survey.answered', channel: 'email', data: { nps: 10 } }),
      // bo: first touch 2026-01-20, bought after 69 days: onboarding missed (deadline 2026-02-19)
      envelope({ ...person('bo'), occurredAt: '2026-01-20T10:00:00+01:00', type: 'contact.handled' }),
      purchase('bo', '2026-03-30T10:00:00Z'),
      // cy: first touch 2026-11-15: onboarding still open on 2026-11-21
      envelope({
        ...person('cy'),
        occurredAt: '2026-11-15T10:00:00Z',
        type: 'web.visited',
        channel: 'app',
        data: { url: 'https://shop.example.com/' },
      }),
    ];
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(res.statusCode).toBe(200);
    const results = res.json().results as { customerId: string; position: number }[];
    head = Math.max(...results.map((r) => r.position));
    ids = { ana: results[0].customerId, bo: results[5].customerId, cy: results[7].customerId };
  });
  afterAll(() => api.close());

  it('serves the definitions in use (the built-in defaults here) as version 1', async () => {
    const res = await get(`/v1/milestones/definitions?minPosition=${head}`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.active).toMatchObject({ version: 1, active: true });
    expect(body.active.milestones.map((m: { id: string }) => m.id)).toEqual([
      'onboarded',
      'first-issue-resolved',
      'renewed',
      'became-promoter',
    ]);
    expect(body.history).toHaveLength(1);
  });

  it('answers the funnel: reached, missed (deadline passed by `at`), open and conversions', async () => {
    const res = await get(`/v1/milestones/funnel?minPosition=${head}&at=${AT}`);
    expect(res.statusCode).toBe(200);
    const [group] = res.json().groups;
    expect(group.steps.map((s: any) => [s.milestoneId, s.customers, s.reached, s.missed, s.open, s.conversion, s.fromPrevious])).toEqual([
      ['onboarded', 3, 1, 1, 1, 0.3333, null],
      ['first-issue-resolved', 3, 1, 0, 2, 0.3333, 1],
      ['renewed', 3, 0, 0, 3, 0, 0],
      ['became-promoter', 3, 1, 0, 2, 0.3333, null],
    ]);
    // before bo's deadline (2026-02-19T09:00Z) nothing was missed yet
    const early = (await get('/v1/milestones/funnel?at=2026-02-01T00:00:00Z')).json();
    expect(early.groups[0].steps[0]).toMatchObject({ reached: 1, missed: 0, open: 2 });
  });

  it('groups the funnel by cohort (month of the first touch, UTC) and filters by cohort range and segment', async () => {
    const byCohort = (await get(`/v1/milestones/funnel?groupBy=cohort&at=${AT}`)).json();
    expect(byCohort.groups.map((g: any) => [g.cohort, g.steps[0].customers, g.steps[0].reached])).toEqual([
      ['2026-01', 2, 1],
      ['2026-11', 1, 0],
    ]);
    const january = (await get('/v1/milestones/funnel?cohortFrom=2026-01&cohortTo=2026-01')).json();
    expect(january.groups[0].steps[0].customers).toBe(2);
    const bySegment = (await get('/v1/milestones/funnel?groupBy=segment')).json();
    expect(bySegment.groups.map((g: any) => [g.segment, g.steps[0].customers])).toEqual([
      ['low', 2],
      ['none', 1],
    ]);
    const none = (await get('/v1/milestones/funnel?segment=none')).json();
    expect(none.groups[0].steps[0].customers).toBe(1);
  });

  it('answers time to milestone in days from the first touch (exact percentiles)', async () => {
    const res = await get('/v1/milestones/time-to-milestone?milestone=onboarded');
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toEqual([{ milestoneId: 'onboarded', reached: 1, p50Days: 5, p90Days: 5, meanDays: 5 }]);
    const all = (await get('/v1/milestones/time-to-milestone')).json().items;
    expect(all.map((i: any) => [i.milestoneId, i.reached, i.p50Days])).toEqual([
      ['onboarded', 1, 5],
      ['first-issue-resolved', 1, 29],
      ['renewed', 0, null],
      ['became-promoter', 1, 55],
    ]);
  });

  it('exports the funnel and time to milestone as CSV', async () => {
    const funnel = await get(`/v1/milestones/funnel?format=csv&groupBy=cohort&at=${AT}`);
    expect(funnel.statusCode).toBe(200);
    expect(funnel.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(funnel.headers['content-disposition']).toBe('attachment; filename="milestone-funnel.csv"');
    const lines = funnel.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe('asOf,cohort,segment,milestoneId,label,customers,reached,missed,open,conversion,fromPrevious');
    expect(lines).toHaveLength(1 + 2 * 4);
    expect(lines[1]).toBe('2026-11-21T12:00:00.000Z,2026-01,,onboarded,First purchase within 30 days of the first touch,2,1,1,0,0.5,');
    const ttm = await get('/v1/milestones/time-to-milestone?format=csv&milestone=onboarded');
    expect(ttm.body).toBe('milestoneId,cohort,segment,reached,p50Days,p90Days,meanDays\r\nonboarded,,,1,5,5,5\r\n');
  });

  it("answers one customer's milestones, 404 for an unknown one", async () => {
    const bo = await get(`/v1/milestones/customers/${ids.bo}?at=${AT}`);
    expect(bo.statusCode).toBe(200);
    expect(bo.json()).toMatchObject({ customerId: ids.bo, firstTouchAt: '2026-01-20T09:00:00.000Z', cohort: '2026-01' });
    expect(bo.json().milestones[0]).toEqual({
      milestoneId: 'onboarded',
      label: 'First purchase within 30 days of the first touch',
      status: 'missed',
      reachedAt: null,
      missedAt: '2026-02-19T09:00:00.000Z',
      matchedAt: '2026-03-30T10:00:00.000Z',
      daysToReach: null,
    });
    const ana = (await get(`/v1/milestones/customers/${ids.ana}`)).json();
    expect(ana.milestones.map((m: any) => [m.milestoneId, m.status, m.daysToReach])).toEqual([
      ['onboarded', 'reached', 5],
      ['first-issue-resolved', 'reached', 29],
      ['renewed', 'open', null],
      ['became-promoter', 'reached', 55],
    ]);
    expect(ids.cy).toBeDefined();
    expect((await get('/v1/milestones/customers/no-such-customer')).statusCode).toBe(404);
  });

  it('refuses bad parameters with a 422 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['/v1/milestones/funnel?groupBy=week', 'groupBy'],
      ['/v1/milestones/funnel?cohortFrom=2026-13', 'cohortFrom'],
      ['/v1/milestones/funnel?cohortFrom=2026-05&cohortTo=2026-01', 'cohortTo'],
      ['/v1/milestones/funnel?cohortFrom=2000-01&cohortTo=2020-01', 'cohortTo'],
      ['/v1/milestones/funnel?segment=gold', 'segment'],
      ['/v1/milestones/funnel?format=xml', 'format'],
      ['/v1/milestones/funnel?at=yesterday', 'at'],
      ['/v1/milestones/funnel?minPosition=999999', 'minPosition'],
      // an empty value is not 0 (found by the fuzzer on /v1/milestones/customers/{id})
      ['/v1/milestones/funnel?minPosition=', 'minPosition'],
      ['/v1/milestones/funnel?minPosition=1e3', 'minPosition'],
      ['/v1/milestones/time-to-milestone?milestone=nope', 'milestone'],
      ['/v1/milestones/funnel?metric=nps', 'metric'],
    ];
    for (const [url, field] of cases) {
      const res = await get(url);
      expect([url, res.statusCode]).toEqual([url, 422]);
      expect([url, res.json().errors.map((e: { field: string }) => e.field)]).toEqual([url, [field]]);
    }
    const reason = (await get('/v1/milestones/funnel?cohortFrom=2026-05&cohortTo=2026-01')).json().errors[0].reason;
    expect(reason).toBe('is before cohortFrom (2026-05)');
  });

  it('needs the analyst role', async () => {
    for (const url of [
      '/v1/milestones/funnel',
      '/v1/milestones/time-to-milestone',
      '/v1/milestones/definitions',
      `/v1/milestones/customers/${ids.ana}`,
    ]) {
      expect([url, (await get(url, KEYS.ingest)).statusCode]).toEqual([url, 403]);
      expect([url, (await get(url, KEYS.ops)).statusCode]).toEqual([url, 403]);
      expect([url, (await get(url, null)).statusCode]).toEqual([url, 401]);
    }
  });
});
