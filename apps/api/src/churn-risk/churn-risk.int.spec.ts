import { parse } from 'csv-parse/sync';
import type { ReadSide } from '@cem/read-models';
import { CHURN_RESCORING_JOB } from '@cem/read-models/churn-risk';
import { READ_SIDE } from '../customers/read-side.token';
import { envelope, TEST_NOW } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

const DAY = 86_400_000;
const AS_OF = new Date(TEST_NOW).toISOString();
const daysAgo = (days: number) => new Date(TEST_NOW - days * DAY).toISOString();

interface Item {
  customerId: string;
  probability: number;
  band: string;
  logOdds: number;
  netValue: number;
  valueAtRisk: number;
  valueSegment: string;
  lifecycleStage: string;
  topFactor: { name: string; contribution: number; reason: string } | null;
}

/**
 * The plain expectations: what each seeded customer bought and was refunded (their net value), the
 * customer 360's answer for stage and segment, and the one-customer endpoint's score. The list,
 * its filters, sorts and pages are checked against plain sorts and filters of these.
 */
interface Expected {
  customerId: string;
  probability: number;
  band: string;
  netValue: number;
  valueSegment: string;
  lifecycleStage: string;
}

/** The value segment by the thresholds the docs state (docs/read-models.md), written out again here. */
const segmentOf = (purchases: number, net: number) =>
  purchases === 0 ? 'none' : net >= 5000 ? 'strategic' : net >= 1000 ? 'high' : net >= 250 ? 'medium' : 'low';

describe('churn-risk analyst API', () => {
  let api: ApiHarness;
  let head = 0;
  const expected = new Map<string, Expected>();
  /** the sums each customer's events add up to, computed while building them */
  const sums = new Map<string, { purchases: number; net: number; firstAt: string }>();
  let merged: { from: string; into: string };

  const get = (url: string, key: string | null = KEYS.analyst) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const ingest = async (events: Record<string, unknown>[]) => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(res.statusCode).toBe(200);
    return res.json().results as { customerId: string; position: number }[];
  };
  const who = (name: string) => ({ customer: { identifiers: [{ kind: 'email', value: `${name}@example.com` }] } });

  /** Fourteen customers of every kind: buyers large and small, complainers, detractors, cancelled subscribers, a prospect. */
  function historyOf(i: number): { events: Record<string, any>[]; purchases: number; net: number; firstAt: string } {
    const name = `churn-${i}`;
    const events: Record<string, any>[] = [];
    const add = (days: number, type: string, data: Record<string, unknown>, channel = 'web') =>
      events.push(envelope({ ...who(name), occurredAt: daysAgo(days), type, channel, data }));
    const first = 400 - i * 7;
    add(first, 'web.visited', { url: 'https://shop.example.com/' });
    const purchases = i % 5;
    const total = [0, 30, 300, 1200, 6000][purchases];
    let net = 0;
    for (let p = 0; p < purchases; p++) {
      const amount = Math.round((total / purchases) * 100) / 100;
      net += amount;
      add(first - 10 - p * (20 + i), 'purchase.completed', { orderId: `o-${i}-${p}`, amount, currency: 'EUR' });
    }
    if (i % 6 === 2 && purchases > 0) {
      net -= 20;
      add(first - 5 - purchases * (20 + i), 'refund.issued', { orderId: `o-${i}-0`, amount: 20, currency: 'EUR' });
    }
    if (i % 3 === 0) add(10, 'complaint.filed', { category: 'delivery' }, 'email');
    if (i % 4 === 1) add(20 + i, 'survey.answered', { nps: 2 }, 'email');
    if (i % 4 === 2) add(3 + i, 'survey.answered', { nps: 10 }, 'email');
    if (i % 4 === 3) {
      add(200, 'subscription.started', { subscriptionId: `s-${i}`, plan: 'basic' });
      add(15 + i, 'subscription.cancelled', { subscriptionId: `s-${i}` });
      if (i === 7) add(100, 'subscription.started', { subscriptionId: `s-${i}-b`, plan: 'plus' });
    }
    if (i % 5 === 4) add(2 + i, 'case.opened', { caseId: `K-${i}` }, 'phone');
    return { events, purchases, net: Math.round(net * 100) / 100, firstAt: daysAgo(first) };
  }

  beforeAll(async () => {
    api = await startApi();
    for (let i = 0; i < 14; i++) {
      const h = historyOf(i);
      const results = await ingest(h.events);
      head = Math.max(head, ...results.map((r) => r.position));
      sums.set(results[0].customerId, { purchases: h.purchases, net: h.net, firstAt: h.firstAt });
    }
    // a merge: an event naming a second identifier's customer and one of the above
    const [alias] = await ingest([
      envelope({ customer: { identifiers: [{ kind: 'phone', value: '+31612345678' }] }, occurredAt: daysAgo(30) }),
    ]);
    const [both] = await ingest([
      envelope({
        customer: {
          identifiers: [
            { kind: 'email', value: 'churn-1@example.com' },
            { kind: 'phone', value: '+31612345678' },
          ],
        },
        occurredAt: daysAgo(29),
      }),
    ]);
    head = Math.max(head, both.position);
    merged = { from: alias.customerId, into: both.customerId };

    for (const customerId of sums.keys()) {
      const score = await get(`/v1/churn-risk/customers/${customerId}?asOf=${AS_OF}&minPosition=${head}`);
      expect(score.statusCode).toBe(200);
      const c360 = await get(`/v1/customers/${customerId}?at=${AS_OF}&minPosition=${head}`);
      expect(c360.statusCode).toBe(200);
      const s = score.json();
      expected.set(customerId, {
        customerId,
        probability: s.probability,
        band: s.band,
        netValue: s.netValue,
        valueSegment: c360.json().valueSegment,
        lifecycleStage: c360.json().lifecycleStage,
      });
    }
  });
  afterAll(() => api.close());

  const byScore = (a: Expected, b: Expected) => b.probability - a.probability || (a.customerId < b.customerId ? -1 : 1);
  const atRisk = (e: Expected) => e.probability * Math.max(0, e.netValue);
  const byValueAtRisk = (a: Expected, b: Expected) => atRisk(b) - atRisk(a) || (a.customerId < b.customerId ? -1 : 1);

  /** Every page of a listing, following nextCursor; fails on a repeated customer. */
  async function walk(query: string, limit: number): Promise<Item[]> {
    const items: Item[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const res = await get(`/v1/churn-risk?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json();
      expect(page.items.length).toBeLessThanOrEqual(limit);
      expect(page.asOf).toBe(AS_OF);
      items.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(cursor).toBeUndefined();
    expect(new Set(items.map((i) => i.customerId)).size).toBe(items.length);
    return items;
  }

  it('scores net value, segment and stage as the seeded events and the customer 360 say', () => {
    expect(expected.size).toBe(14);
    for (const [id, e] of expected) {
      const s = sums.get(id)!;
      expect([id, e.netValue]).toEqual([id, s.net]);
      expect([id, e.valueSegment]).toEqual([id, segmentOf(s.purchases, s.net)]);
    }
    // the seeded histories reach several stages and segments, so the filters below select something real
    expect(new Set([...expected.values()].map((e) => e.lifecycleStage)).size).toBeGreaterThanOrEqual(3);
    expect(new Set([...expected.values()].map((e) => e.valueSegment)).size).toBe(5);
  });

  it('lists every customer by score, each exactly once across pages, with the stage and segment of the customer 360', async () => {
    const items = await walk(`asOf=${AS_OF}`, 4);
    const want = [...expected.values()].sort(byScore);
    expect(items.map((i) => i.customerId)).toEqual(want.map((e) => e.customerId));
    for (const i of items) {
      const e = expected.get(i.customerId)!;
      expect(i).toMatchObject({
        probability: e.probability,
        band: e.band,
        netValue: e.netValue,
        valueSegment: e.valueSegment,
        lifecycleStage: e.lifecycleStage,
      });
      expect(i.valueAtRisk).toBeCloseTo(atRisk(e), 9);
      if (i.topFactor) expect(i.topFactor.contribution).toBeGreaterThan(0);
    }
  });

  it('sorts by value at risk', async () => {
    const items = await walk(`asOf=${AS_OF}&sort=valueAtRisk`, 5);
    expect(items.map((i) => i.customerId)).toEqual([...expected.values()].sort(byValueAtRisk).map((e) => e.customerId));
  });

  it('filters by band, segment, stage and minimum value as a plain filter of the scores does', async () => {
    const all = [...expected.values()];
    const bands = [...new Set(all.map((e) => e.band))].slice(0, 2);
    const stages = [...new Set(all.map((e) => e.lifecycleStage))].slice(0, 2);
    const cases: [string, (e: Expected) => boolean][] = [
      [`band=${bands.join(',')}`, (e) => bands.includes(e.band)],
      [`band=${bands[0]}`, (e) => e.band === bands[0]],
      ['segment=medium&segment=high', (e) => ['medium', 'high'].includes(e.valueSegment)],
      [`stage=${stages.join(',')}`, (e) => stages.includes(e.lifecycleStage)],
      ['minValue=250', (e) => e.netValue >= 250],
      ['minValue=29.5&segment=low,medium', (e) => e.netValue >= 29.5 && ['low', 'medium'].includes(e.valueSegment)],
      [`minValue=0&stage=${stages[0]}&sort=valueAtRisk`, (e) => e.netValue >= 0 && e.lifecycleStage === stages[0]],
    ];
    for (const [query, keep] of cases) {
      const want = all.filter(keep).sort(query.includes('valueAtRisk') ? byValueAtRisk : byScore);
      expect([query, want.length > 0 && want.length < all.length]).toEqual([query, true]);
      const items = await walk(`asOf=${AS_OF}&${query}`, 2);
      expect([query, items.map((i) => i.customerId)]).toEqual([query, want.map((e) => e.customerId)]);
    }
  });

  it('exports the same rows as CSV, with the next page in X-Next-Cursor', async () => {
    const json = (await get(`/v1/churn-risk?asOf=${AS_OF}&limit=6&sort=valueAtRisk`)).json();
    const res = await get(`/v1/churn-risk?asOf=${AS_OF}&limit=6&sort=valueAtRisk&format=csv`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['x-next-cursor']).toBe(json.nextCursor);
    const rows = parse(res.body, { columns: true }) as Record<string, string>[];
    expect(rows).toEqual(
      json.items.map((i: Item) => ({
        customerId: i.customerId,
        probability: String(i.probability),
        band: i.band,
        logOdds: String(i.logOdds),
        netValue: String(i.netValue),
        valueAtRisk: String(i.valueAtRisk),
        valueSegment: i.valueSegment,
        lifecycleStage: i.lifecycleStage,
        topFactor: i.topFactor?.name ?? '',
        topFactorContribution: i.topFactor ? String(i.topFactor.contribution) : '',
        topFactorReason: i.topFactor?.reason ?? '',
        asOf: AS_OF,
        modelName: json.model.name,
        modelVersion: String(json.model.version),
      })),
    );
    const next = await get(`/v1/churn-risk?limit=6&sort=valueAtRisk&format=csv&cursor=${res.headers['x-next-cursor']}`);
    const second = (await get(`/v1/churn-risk?limit=6&sort=valueAtRisk&cursor=${json.nextCursor}`)).json();
    expect((parse(next.body, { columns: true }) as { customerId: string }[]).map((r) => r.customerId)).toEqual(
      second.items.map((i: Item) => i.customerId),
    );
  });

  it("explains one customer's score: every factor, adding up to the log-odds, with the model", async () => {
    for (const id of [...expected.keys()].slice(0, 5)) {
      const s = (await get(`/v1/churn-risk/customers/${id}?asOf=${AS_OF}`)).json();
      expect(s).toMatchObject({
        customerId: id,
        asOf: AS_OF,
        model: { name: expect.any(String), version: expect.any(Number), horizonDays: 90 },
      });
      expect(s.factors.length).toBeGreaterThan(3);
      const sum = s.factors.reduce((acc: number, f: { contribution: number }) => acc + f.contribution, s.base);
      expect(s.logOdds).toBeCloseTo(sum, 9);
      expect(s.probability).toBeCloseTo(1 / (1 + Math.exp(-s.logOdds)), 12);
      for (const f of s.factors)
        expect(f).toEqual({
          name: expect.any(String),
          value: expect.any(Number),
          contribution: expect.any(Number),
          reason: expect.any(String),
        });
    }
  });

  it('answers 404 for an unknown customer and 307 to the survivor for a merged-away id', async () => {
    const unknown = await get('/v1/churn-risk/customers/no-such-customer');
    expect(unknown.statusCode).toBe(404);
    const res = await get(`/v1/churn-risk/customers/${merged.from}?asOf=${AS_OF}`);
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe(`/v1/churn-risk/customers/${merged.into}?asOf=${encodeURIComponent(AS_OF)}`);
    expect(res.json()).toMatchObject({ error: 'merged', customerId: merged.from, mergedInto: merged.into });
    expect((await get(res.headers.location as string)).statusCode).toBe(200);
  });

  it('counts customers per band now and at a past instant, from the events before it only', async () => {
    const dist = (await get(`/v1/churn-risk/distribution?asOf=${AS_OF}`)).json();
    expect(dist.customers).toBe(14);
    for (const b of dist.bands) {
      expect([b.band, b.customers]).toEqual([b.band, [...expected.values()].filter((e) => e.band === b.band).length]);
      expect(b.histogram.reduce((n: number, bin: { customers: number }) => n + bin.customers, 0)).toBe(b.customers);
    }
    // 350 days earlier: only the customers whose first touch came before it
    const past = daysAgo(350);
    const then = (await get(`/v1/churn-risk/distribution?asOf=${past}`)).json();
    expect(then.asOf).toBe(past);
    expect(then.customers).toBe([...sums.values()].filter((s) => s.firstAt < past).length);
    expect(then.customers).toBeGreaterThan(0);
    expect(then.customers).toBeLessThan(14);
    const now = await get('/v1/churn-risk/distribution');
    expect(now.statusCode).toBe(200);
  });

  it('refuses bad parameters with a 422 naming each', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const forged = Buffer.from(JSON.stringify([Date.now() + 86_400_000, 0.5, 'x'])).toString('base64url');
    const huge = Buffer.from(JSON.stringify([9e15, 0.5, 'x'])).toString('base64url');
    const cases: [string, string][] = [
      ['/v1/churn-risk?asOf=yesterday', 'asOf'],
      ['/v1/churn-risk?asOf=2026-13-01T00:00:00Z', 'asOf'],
      [`/v1/churn-risk?asOf=${future}`, 'asOf'],
      [`/v1/churn-risk/distribution?asOf=${future}`, 'asOf'],
      ['/v1/churn-risk/distribution?asOf=2026-11-01', 'asOf'],
      [`/v1/churn-risk/customers/${[...expected.keys()][0]}?asOf=${future}`, 'asOf'],
      ['/v1/churn-risk/customers/x?asOf=not-a-date', 'asOf'],
      ['/v1/churn-risk?band=extreme', 'band'],
      ['/v1/churn-risk?band=high,extreme', 'band'],
      ['/v1/churn-risk?segment=vip', 'segment'],
      ['/v1/churn-risk?stage=sleeping', 'stage'],
      ['/v1/churn-risk?limit=0', 'limit'],
      ['/v1/churn-risk?limit=1001', 'limit'],
      ['/v1/churn-risk?limit=ten', 'limit'],
      ['/v1/churn-risk?limit=', 'limit'],
      ['/v1/churn-risk?cursor=garbage', 'cursor'],
      [`/v1/churn-risk?cursor=${forged}`, 'cursor'],
      [`/v1/churn-risk?cursor=${huge}`, 'cursor'],
      ['/v1/churn-risk?minValue=lots', 'minValue'],
      ['/v1/churn-risk?minValue=1e3', 'minValue'],
      ['/v1/churn-risk?minValue=', 'minValue'],
      ['/v1/churn-risk?sort=name', 'sort'],
      ['/v1/churn-risk?format=xml', 'format'],
      ['/v1/churn-risk?minPosition=-1', 'minPosition'],
      ['/v1/churn-risk?color=red', 'color'],
    ];
    for (const [url, field] of cases) {
      const res = await get(url);
      expect([url, res.statusCode]).toEqual([url, 422]);
      expect([url, res.json().errors.map((e: { field: string }) => e.field)]).toEqual([url, [field]]);
      expect([url, res.json().errors[0].reason]).toEqual([url, expect.any(String)]);
    }
  });

  it('needs the analyst role: 401 without a key, 403 with an ingest key', async () => {
    for (const url of ['/v1/churn-risk', '/v1/churn-risk/distribution', `/v1/churn-risk/customers/${[...expected.keys()][0]}`]) {
      expect([url, (await get(url, null)).statusCode]).toEqual([url, 401]);
      expect([url, (await get(url, KEYS.ingest)).statusCode]).toEqual([url, 403]);
      expect([url, (await get(url, KEYS.ops)).statusCode]).toEqual([url, 403]);
    }
  });
});

/** CHURN_BAND_THRESHOLDS and CHURN_RESCORING_INTERVAL_MINUTES reach the read side the api opens. */
describe('churn-risk configuration', () => {
  let api: ApiHarness;
  const thresholds = [0.3, 0.35, 0.4] as const;
  beforeAll(async () => (api = await startApi({ CHURN_BAND_THRESHOLDS: thresholds.join(','), CHURN_RESCORING_INTERVAL_MINUTES: '7' })));
  afterAll(() => api.close());

  /** the band rule as the docs state it: the first threshold a probability reaches, from the top */
  const bandOf = (p: number) => (p >= thresholds[2] ? 'critical' : p >= thresholds[1] ? 'high' : p >= thresholds[0] ? 'medium' : 'low');

  it('bands the prior model by CHURN_BAND_THRESHOLDS, and re-scores every CHURN_RESCORING_INTERVAL_MINUTES', async () => {
    const events = Array.from({ length: 12 }, (_, i) =>
      envelope({
        customer: { identifiers: [{ kind: 'email', value: `conf-${i}@example.com` }] },
        occurredAt: new Date(TEST_NOW - (5 + i * 17) * DAY).toISOString(),
        type: i % 2 ? 'complaint.filed' : 'purchase.completed',
        channel: 'web',
        data: i % 2 ? { category: 'billing' } : { orderId: `o-${i}`, amount: 40, currency: 'EUR' },
      }),
    );
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    const head = Math.max(...(res.json().results as { position: number }[]).map((r) => r.position));
    const list = await api.app.inject({
      method: 'GET',
      url: `/v1/churn-risk?asOf=${AS_OF}&limit=100&minPosition=${head}`,
      headers: { authorization: `Bearer ${KEYS.analyst}` },
    });
    const items = list.json().items as Item[];
    expect(items).toHaveLength(12);
    expect(list.json().model.version).toBe(0);
    for (const i of items) expect([i.customerId, i.band]).toEqual([i.customerId, bandOf(i.probability)]);
    // the thresholds sit where these customers' probabilities are: more than one band is reached
    expect(new Set(items.map((i) => i.band)).size).toBeGreaterThan(1);
    const readSide = api.app.get<ReadSide>(READ_SIDE);
    expect(readSide.scheduler?.intervals()).toMatchObject({ [CHURN_RESCORING_JOB]: 7 * 60_000 });
  });
});
