import type { ReadSide } from '@cem/read-models';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import { envelope, TEST_NOW } from '../../../../test/support/envelopes';
import { READ_SIDE } from '../customers/read-side.token';

/*
 * The segments API on a small seeded log whose answers are known by construction: 10 customers,
 * the first 6 with a phone contact and 200 spent (the rule below matches them), of those the first
 * 3 with marketing-email consent granted and the 4th with it withdrawn (held back: 3).
 */
const PEOPLE = 10;
const email = (i: number) => `seg-${i}@example.com`;
const RULE = {
  all: [
    { fact: 'netValue', op: '>', value: 100 },
    { fact: 'channels', op: 'includes', value: 'phone' },
  ],
};

describe('segments API', () => {
  let api: ApiHarness;
  let analyst: string;
  let head = 0;
  const ids: string[] = [];

  const send = (method: 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, key: string | null = analyst) =>
    api.app.inject({
      method,
      url,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const get = (url: string, key: string | null = analyst) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const readSide = () => api.app.get<ReadSide>(READ_SIDE);
  const evaluated = async () => {
    await readSide().evaluateSegmentsNow!();
    head = await api.platform.store.headPosition();
  };

  beforeAll(async () => {
    api = await startApi();
    analyst = api.platform.apiKeys.create('ana (analytics)', ['analyst']).key;
    const events: Record<string, unknown>[] = [];
    for (let i = 0; i < PEOPLE; i++) {
      const customer = { identifiers: [{ kind: 'email', value: email(i) }] };
      const at = (h: number) => `2026-11-1${i % 9}T${String(8 + h).padStart(2, '0')}:00:00Z`;
      events.push(
        envelope({ customer, occurredAt: at(0), type: 'web.visited', channel: 'web', data: { url: 'https://shop.example.com/' } }),
      );
      if (i < 6) {
        events.push(envelope({ customer, occurredAt: at(1), channel: 'phone' }));
        events.push(
          envelope({
            customer,
            occurredAt: at(2),
            type: 'purchase.completed',
            channel: 'web',
            data: { orderId: `o-${i}`, amount: 200, currency: 'EUR' },
          }),
        );
      }
      if (i < 4)
        events.push(
          envelope({
            customer,
            occurredAt: at(3),
            type: 'consent.changed',
            channel: 'web',
            data: { purpose: 'marketing-email', granted: i < 3 },
          }),
        );
    }
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(res.statusCode).toBe(200);
    head = await api.platform.store.headPosition();
    for (let i = 0; i < PEOPLE; i++) {
      const found = await get(`/v1/customers/lookup?identifier=email:${email(i)}&minPosition=${head}`);
      expect(found.statusCode).toBe(200);
      ids.push(found.json().customerId);
    }
  }, 60_000);
  afterAll(() => api?.close());

  it('dry-runs a rule: count, held back for consent, 10 examples; nothing saved', async () => {
    const res = await send('POST', '/v1/segments/dry-run', { rule: RULE, consentPurpose: 'marketing-email' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      asOf: expect.any(String),
      evaluated: PEOPLE,
      matched: 6,
      heldBack: 3,
      examples: ids.slice(0, 6).sort(),
    });
    expect((await get('/v1/segments')).json().items).toEqual([]);
  });

  it('refuses every bad definition with a 400 naming the JSON path; nothing saved', async () => {
    const base = { segmentId: 'bad', name: 'Bad', rule: RULE };
    const cases: [unknown, { field: string; reason: RegExp }][] = [
      [
        { ...base, rule: { all: [RULE, { fact: 'shoeSize', op: '>', value: 42 }] } },
        { field: 'rule.all[1].fact', reason: /^unknown fact "shoeSize"/ },
      ],
      [
        { ...base, rule: { fact: 'lifecycleStage', op: '=', value: 3 } },
        { field: 'rule.value', reason: /must be one of prospect/ },
      ],
      [
        { ...base, rule: { fact: 'netValue', op: '>', value: 'strategic' } },
        { field: 'rule.value', reason: /must be a number/ },
      ],
      [
        { ...base, rule: { any: [{ fact: 'consent.newsletter', op: '=', value: true }] } },
        { field: 'rule.any[0].fact', reason: /^unknown consent purpose "newsletter"/ },
      ],
      [
        { ...base, consentPurpose: 'newsletter' },
        { field: 'consentPurpose', reason: /^unknown consent purpose/ },
      ],
      [
        { ...base, rule: { count: 'contact.handled', within: 'a month', op: '>=', value: 3 } },
        { field: 'rule.within', reason: /^is not a duration/ },
      ],
      [
        { ...base, rule: { not: { not: { not: { not: { not: { not: RULE } } } } } } },
        { field: 'rule.not.not.not.not.not.not', reason: /nests deeper than 5/ },
      ],
      [
        { ...base, colour: 'red' },
        { field: 'colour', reason: /unknown field/ },
      ],
      [
        { ...base, segmentId: 'Not An Id' },
        { field: 'segmentId', reason: /lower-case/ },
      ],
      [
        { ...base, name: '' },
        { field: 'name', reason: /1 to 200/ },
      ],
      [
        { ...base, rule: 'everyone' },
        { field: 'rule', reason: /rule object/ },
      ],
    ];
    for (const [body, error] of cases) {
      const res = await send('POST', '/v1/segments', body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        error: 'validation_failed',
        errors: [{ field: error.field, reason: expect.stringMatching(error.reason) }],
      });
    }
    expect((await send('POST', '/v1/segments', '[1]')).statusCode).toBe(400);
    const dry = await send('POST', '/v1/segments/dry-run', { rule: { fact: 'nps', op: 'about', value: 9 } });
    expect(dry.statusCode).toBe(400);
    expect(dry.json().errors).toEqual([{ field: 'rule.op', reason: 'must be one of =, !=, <, <=, >, >=, exists for nps' }]);
    expect((await get('/v1/segments')).json().items).toEqual([]);
    expect((await api.platform.store.readAll()).some((e) => e.type.startsWith('segment.'))).toBe(false);
  });

  it('needs the analyst role to define, read or dry-run', async () => {
    const body = { segmentId: 'x', name: 'X', rule: RULE };
    for (const key of [KEYS.ingest, KEYS.ops]) {
      expect((await send('POST', '/v1/segments', body, key)).statusCode).toBe(403);
      expect((await send('PUT', '/v1/segments/x', body, key)).statusCode).toBe(403);
      expect((await send('DELETE', '/v1/segments/x', undefined, key)).statusCode).toBe(403);
      expect((await send('POST', '/v1/segments/dry-run', { rule: RULE }, key)).statusCode).toBe(403);
      expect((await get('/v1/segments', key)).statusCode).toBe(403);
    }
    expect((await send('POST', '/v1/segments', body, null)).statusCode).toBe(401);
    expect((await get('/v1/segments', null)).statusCode).toBe(401);
  });

  it('saves, evaluates in the background, lists with size, held-back count and trend, pages and exports members, shows them in the 360', async () => {
    const created = await send('POST', '/v1/segments', {
      segmentId: 'phone-spenders',
      name: 'Phone customers who spent over 100',
      rule: RULE,
      consentPurpose: 'marketing-email',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({ segmentId: 'phone-spenders', version: 1, position: expect.any(Number) });
    expect((await send('POST', '/v1/segments', { segmentId: 'phone-spenders', name: 'again', rule: RULE })).statusCode).toBe(409);
    await evaluated();

    const one = await get(`/v1/segments/phone-spenders?minPosition=${head}&trendDays=3`);
    expect(one.statusCode).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    expect(one.json()).toMatchObject({
      segmentId: 'phone-spenders',
      version: 1,
      status: 'active',
      changedBy: 'ana (analytics)',
      size: 6,
      heldBack: 3,
      activatable: 3,
      evaluation: { version: 1, state: 'done', evaluated: PEOPLE, total: PEOPLE, pending: 0 },
      changes: [{ version: 1, kind: 'created', changedBy: 'ana (analytics)' }],
    });
    expect(one.json().trend).toHaveLength(3);
    expect(one.json().trend[2]).toEqual({ day: today, size: 6 });
    expect((await get('/v1/segments')).json().items.map((s: { segmentId: string; size: number }) => [s.segmentId, s.size])).toEqual([
      ['phone-spenders', 6],
    ]);

    // members: only those holding the consent purpose, a page at a time, and as CSV
    const consenting = ids.slice(0, 3).sort();
    const page1 = await get('/v1/segments/phone-spenders/members?limit=2');
    expect(page1.json()).toMatchObject({
      segmentId: 'phone-spenders',
      size: 6,
      heldBack: 3,
      items: consenting.slice(0, 2).map((customerId) => ({ customerId, version: 1 })),
    });
    const page2 = await get(`/v1/segments/phone-spenders/members?limit=2&cursor=${page1.json().nextCursor}`);
    expect(page2.json().items.map((m: { customerId: string }) => m.customerId)).toEqual(consenting.slice(2));
    expect(page2.json().nextCursor).toBeUndefined();
    const csv = await get('/v1/segments/phone-spenders/members?format=csv');
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(
      csv.body
        .trim()
        .split('\r\n')
        .map((l) => l.split(',')[1]),
    ).toEqual(['customerId', ...consenting]);
    expect((await get('/v1/segments/phone-spenders/members?cursor=nope')).statusCode).toBe(422);
    expect((await get('/v1/segments/phone-spenders?trendDays=0')).statusCode).toBe(422);
    expect((await get('/v1/segments/nobody')).statusCode).toBe(404);

    // the customer 360 names the segments of a customer; a held-back one says so
    const c0 = (await get(`/v1/customers/${ids[0]}`)).json();
    expect(c0.segments).toEqual([
      { segmentId: 'phone-spenders', name: 'Phone customers who spent over 100', since: expect.any(String), consent: true },
    ]);
    expect((await get(`/v1/customers/${ids[4]}`)).json().segments).toEqual([
      expect.objectContaining({ segmentId: 'phone-spenders', consent: false }),
    ]);
    expect((await get(`/v1/customers/${ids[8]}`)).json().segments).toEqual([]);

    // experience metrics sliced by the segment count its members' events from their entry (the evaluation, on the
    // real clock here) on; these answers, dated by the platform's test clock, came before it: in no segment
    const at = new Date(TEST_NOW - 3_600_000).toISOString();
    const survey = (i: number, nps: number) =>
      envelope({ customer: { identifiers: [{ kind: 'email', value: email(i) }] }, occurredAt: at, type: 'survey.answered', data: { nps } });
    const answered = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events: [survey(0, 10), survey(5, 2), survey(8, 9)] }),
    });
    expect(answered.statusCode).toBe(200);
    const day = at.slice(0, 10);
    const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const series = (params: string) => get(`/v1/experience-metrics/series?metric=nps&bucket=day&from=${day}&to=${next}&${params}`);
    const all = await series(`minPosition=${await api.platform.store.headPosition()}`);
    expect(all.json().series[0].points[0]).toMatchObject({ promoters: 2, detractors: 1, responses: 3 });
    const sliced = await series('filter=segmentId:phone-spenders');
    expect(sliced.statusCode).toBe(200);
    expect(sliced.json()).toMatchObject({ filter: { dimension: 'segmentId', values: ['phone-spenders'] } });
    expect(sliced.json().series[0].points[0]).toMatchObject({ responses: 0, value: null });
    expect((await series('sliceBy=segmentId')).json().series).toEqual([]);
    const unknown = await series('filter=segmentId:nobody');
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().errors).toEqual([{ field: 'filter', reason: expect.stringContaining('"nobody" is not a segment') }]);

    // signalled only when consented: the entered events say so
    const entered = (await api.platform.store.readAll()).filter((e) => e.type === 'segment.entered');
    expect(
      entered.map((e) => [(e.data as { customerId: string }).customerId, (e.data as { activated: boolean }).activated]).sort(),
    ).toEqual(
      ids
        .slice(0, 6)
        .map((id, i) => [id, i < 3])
        .sort(),
    );
  });

  it('changes (a new version; members follow the new rule) and archives (everyone leaves; no more changes)', async () => {
    const changed = await send('PUT', '/v1/segments/phone-spenders', {
      name: 'Phone customers who spent over 100, consenting or not',
      rule: RULE,
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json().version).toBe(2);
    await evaluated();
    const v2 = (await get(`/v1/segments/phone-spenders?minPosition=${head}`)).json();
    expect(v2).toMatchObject({ version: 2, size: 6, heldBack: 0, segment: { consentPurpose: null, description: '' } });
    expect(v2.changes.map((c: { kind: string }) => c.kind)).toEqual(['created', 'changed']);

    const archived = await send('DELETE', '/v1/segments/phone-spenders');
    expect(archived.statusCode).toBe(200);
    expect(archived.json().version).toBe(3);
    await evaluated();
    expect((await get(`/v1/segments/phone-spenders?minPosition=${head}`)).json()).toMatchObject({
      status: 'archived',
      size: 0,
      version: 3,
    });
    const left = (await api.platform.store.readAll()).filter((e) => e.type === 'segment.left');
    expect(left).toHaveLength(6);
    expect(left.every((e) => (e.data as { reason: string }).reason === 'archived')).toBe(true);
    const sliced = await get(
      '/v1/experience-metrics/series?metric=nps&bucket=month&from=2026-11-01&to=2027-01-01&filter=segmentId:phone-spenders',
    );
    expect(sliced.statusCode).toBe(422);
    expect(sliced.json().errors).toEqual([{ field: 'filter', reason: expect.stringContaining('"phone-spenders" is archived') }]);
    expect((await send('PUT', '/v1/segments/phone-spenders', { name: 'again', rule: RULE })).statusCode).toBe(409);
    expect((await send('DELETE', '/v1/segments/phone-spenders')).statusCode).toBe(409);
    expect((await send('PUT', '/v1/segments/nobody', { name: 'X', rule: RULE })).statusCode).toBe(404);
  });
});
