import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { SqliteEventStore } from '@cem/event-store';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';

/**
 * The admin log endpoints (role ops): head, verify-log as a job, export-log and replay as NDJSON;
 * each call recorded as an ops event naming the key, never its secret.
 */
describe('admin log endpoints (/v1/admin/log)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
    for (let i = 0; i < 6; i++) {
      const res = await api.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
        payload: JSON.stringify(envelope({ customer: { identifiers: [{ kind: 'email', value: `ops-${i}@example.com` }] } })),
      });
      expect(res.statusCode).toBe(201);
    }
  });
  afterAll(() => api.close());

  // the log as stored: what the chain covers (personal data would be ciphertext with a privacy key)
  const store = () => api.platform.logStore as SqliteEventStore;
  const get = (url: string, key: string | null = KEYS.ops) =>
    api.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const post = (url: string, body: unknown, key: string | null = KEYS.ops) =>
    api.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      payload: JSON.stringify(body),
    });
  const lines = (body: string) =>
    body
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, any>);
  const opsEvents = async () => (await store().readAll()).filter((e) => e.streamId === 'cem-ops');
  const lastOps = async () => (await opsEvents()).at(-1)!;

  async function finished(jobId: string) {
    for (;;) {
      const res = await get(`/v1/admin/log/verifications/${jobId}`);
      expect(res.statusCode).toBe(200);
      if (res.json().status !== 'running') return res.json();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  describe('roles', () => {
    const routes: [string, string][] = [
      ['GET', '/v1/admin/log/head'],
      ['POST', '/v1/admin/log/verifications'],
      ['GET', '/v1/admin/log/verifications/5b0c9e1e-7d1a-4c55-9f0e-2f2d7d1c0a01'],
      ['GET', '/v1/admin/log/export'],
      ['GET', '/v1/admin/log/events?fromPosition=1'],
    ];
    it.each(routes)(
      '%s %s needs the role ops (401 without a key, 403 for ingest and analyst keys), recording nothing',
      async (method, url) => {
        const before = (await opsEvents()).length;
        const call = (key: string | null) => (method === 'GET' ? get(url, key) : post(url, {}, key));
        expect((await call(null)).statusCode).toBe(401);
        for (const key of [KEYS.ingest, KEYS.analyst]) {
          const res = await call(key);
          expect(res.statusCode).toBe(403);
          expect(res.json()).toMatchObject({ error: 'forbidden', message: 'this endpoint needs the role ops' });
        }
        expect((await opsEvents()).length).toBe(before);
      },
    );
  });

  it('GET head: the chain head and its anchor, recorded as an ops event by key name (never the secret)', async () => {
    const expected = store().chainHead();
    const res = await get('/v1/admin/log/head');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ...expected, anchor: `${expected.seq}:${expected.hash}`, sealed: false });
    expect(expected.seq).toBe(expected.position); // one chain link per event of the log
    const recorded = await lastOps();
    expect(recorded).toMatchObject({
      type: 'ops.action-performed',
      data: { action: 'log-head', actor: { kind: 'api-key', name: 'configured key 3' }, result: 'ok', figures: { headSeq: expected.seq } },
      metadata: { source: 'cem/api' },
    });
    expect(JSON.stringify(recorded)).not.toContain(KEYS.ops);
    // the anchor stays valid once the record moved the head: a verification against it passes
    const started = await post('/v1/admin/log/verifications', { expectHead: res.json().anchor });
    expect(started.statusCode).toBe(202);
    expect((await finished(started.json().jobId)).status).toBe('verified');
  });

  describe('verifications', () => {
    it('runs in the background: running, then verified with the head and progress; one at a time (409 names the running job)', async () => {
      // hold the walk at its first step so "running" is observed for sure, not raced
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const realHead = store().headPosition.bind(store());
      const spy = jest.spyOn(store(), 'headPosition').mockImplementationOnce(async () => {
        await gate;
        return realHead();
      });
      try {
        const started = await post('/v1/admin/log/verifications', {});
        expect(started.statusCode).toBe(202);
        const job = started.json();
        expect(job).toMatchObject({ status: 'running', requestedBy: 'configured key 3', expectHead: null, finishedAt: null });
        const second = await post('/v1/admin/log/verifications', {});
        expect(second.statusCode).toBe(409);
        expect(second.json().message).toContain(job.jobId);
        expect((await get(`/v1/admin/log/verifications/${job.jobId}`)).json().status).toBe('running');
        release();
        const done = await finished(job.jobId);
        const head = store().chainHead();
        expect(done.status).toBe('verified');
        expect(done.head.seq).toBeGreaterThanOrEqual(6);
        expect(done.head.seq).toBeLessThanOrEqual(head.seq);
        expect(done.progress).toMatchObject({ eventsChecked: done.head.seq, fraction: 1, etaSeconds: 0 });
        expect(done.finishedAt).toEqual(expect.any(String));
        const recorded = (await opsEvents()).find((e) => (e.data as any).parameters?.jobId === job.jobId)!;
        expect(recorded.data).toMatchObject({
          action: 'verify-log',
          actor: { kind: 'api-key', name: 'configured key 3' },
          result: 'ok',
          figures: { eventsChecked: done.head.seq, verifiedHash: done.head.hash },
        });
      } finally {
        release();
        spy.mockRestore();
      }
    });

    it('an anchor the log does not hold: not-verified, with the reason', async () => {
      const head = store().chainHead();
      const started = await post('/v1/admin/log/verifications', { expectHead: `${head.seq}:${'0'.repeat(64)}` });
      const done = await finished(started.json().jobId);
      expect(done).toMatchObject({ status: 'not-verified', expectHead: `${head.seq}:${'0'.repeat(64)}` });
      expect(done.problem).toMatch(new RegExp(`^link #${head.seq} is [0-9a-f]{16}\\.\\.\\., not the anchored 0{16}\\.\\.\\.`));
      expect((await lastOps()).data).toMatchObject({ action: 'verify-log', result: 'failed', outcome: done.problem });
    });

    it.each([
      [{ expectHead: 'latest' }, 'expectHead'],
      [{ expectHead: 12 }, 'expectHead'],
      [{ expectHead: `99999999999999999999:${'a'.repeat(64)}` }, 'expectHead'],
      [{ from: 1 }, 'from'],
      [null, undefined],
      [[], undefined],
    ])('refuses the body %j with 400 naming %s, starting nothing', async (body, field) => {
      const before = (await opsEvents()).length;
      const res = await post('/v1/admin/log/verifications', body);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toEqual([expect.objectContaining({ field: field ?? 'body' })]);
      expect((await opsEvents()).length).toBe(before);
    });

    it('an unknown job answers 404', async () => {
      const res = await get('/v1/admin/log/verifications/5b0c9e1e-7d1a-4c55-9f0e-2f2d7d1c0a01');
      expect(res.statusCode).toBe(404);
    });
  });

  it('GET export: the whole log as NDJSON with its hashes, ending on the head; recorded', async () => {
    const head = store().chainHead();
    const events = await store().readAll();
    const res = await get('/v1/admin/log/export');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="cem-log-\d{4}-\d{2}-\d{2}\.ndjson"$/);
    const [header, ...rest] = lines(res.body);
    const end = rest.pop()!;
    expect(header).toMatchObject({ format: 'cem-log', version: 1, store: 'sqlite' });
    expect(end).toEqual({ end: head });
    expect(rest.map((l) => [l.seq, l.position, l.eventId, l.type])).toEqual(events.map((e, i) => [i + 1, e.position, e.eventId, e.type]));
    expect(rest.at(-1)!.hash).toBe(head.hash);
    expect((await lastOps()).data).toMatchObject({
      action: 'export-log',
      actor: { kind: 'api-key', name: 'configured key 3' },
      parameters: { out: 'http' },
      result: 'ok',
      figures: { events: events.length, headSeq: head.seq, headHash: head.hash },
    });
  });

  describe('GET events (replay)', () => {
    it('by position: both ends inclusive, the events as stored; recorded with the range', async () => {
      const all = await store().readAll();
      const res = await get('/v1/admin/log/events?fromPosition=2&toPosition=4');
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(lines(res.body)).toEqual(JSON.parse(JSON.stringify(all.filter((e) => e.position >= 2 && e.position <= 4))));
      expect((await lastOps()).data).toMatchObject({
        action: 'replay',
        actor: { kind: 'api-key', name: 'configured key 3' },
        parameters: { fromPosition: 2, toPosition: 4, out: 'http' },
        result: 'ok',
        figures: { events: 3 },
      });
    });

    it('by recorded time: from inclusive, to exclusive', async () => {
      const all = await store().readAll();
      const from = all[1].recordedAt;
      const to = new Date(Date.parse(all.at(-1)!.recordedAt) + 1).toISOString();
      const res = await get(`/v1/admin/log/events?fromTime=${from}&toTime=${to}`);
      expect(res.statusCode).toBe(200);
      const expected = all.filter((e) => e.recordedAt >= from && e.recordedAt < to).map((e) => e.eventId);
      expect(lines(res.body).map((e) => e.eventId)).toEqual(expected);
    });

    it.each([
      ['fromPosition=5&toPosition=2', 'fromPosition', '5 is after toPosition 2 (inverted range)'],
      ['fromPosition=99999', 'fromPosition', 'beyond the head of the log'],
      ['fromPosition=1&toPosition=99999', 'toPosition', 'beyond the head of the log'],
      ['', 'fromPosition', 'give fromPosition or fromTime'],
      ['fromPosition=1&fromTime=2026-01-01T00:00:00Z', 'fromTime', 'not both'],
      ['fromPosition=1&toTime=2026-01-01T00:00:00Z', 'toTime', 'goes with fromTime'],
      ['fromTime=2026-01-01T00:00:00Z&toPosition=3', 'toPosition', 'goes with fromPosition'],
      ['fromTime=2026-02-01T00:00:00Z&toTime=2026-01-01T00:00:00Z', 'fromTime', 'inverted or empty range'],
      ['fromTime=2999-01-01T00:00:00Z', 'fromTime', 'in the future'],
      ['fromTime=yesterday', 'fromTime', ''],
      ['fromPosition=0', 'fromPosition', ''],
      ['fromPosition=1.5', 'fromPosition', ''],
      ['fromPosition=1&limit=3', 'limit', ''],
    ])('?%s answers 422 naming %s, replaying and recording nothing', async (query, field, reason) => {
      const before = (await opsEvents()).length;
      const res = await get(`/v1/admin/log/events?${query}`);
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({ error: 'validation_failed' });
      expect(res.json().errors).toEqual([expect.objectContaining({ field, reason: expect.stringContaining(reason) })]);
      expect((await opsEvents()).length).toBe(before);
    });
  });

  it('verify-log through the API catches an event deleted from the SQLite file, at its position', async () => {
    const db = new Database(join(api.dataDir, 'events.db'));
    try {
      db.prepare('DELETE FROM event_log WHERE position = 3').run();
    } finally {
      db.close();
    }
    const started = await post('/v1/admin/log/verifications', {});
    const done = await finished(started.json().jobId);
    expect(done.status).toBe('not-verified');
    expect(done.problem).toBe('event #3 is missing before position 4 (after position 2)');
    expect(done.verifiedUpTo).toMatchObject({ seq: 2, position: 2 });
    // and the export refuses a log that does not verify: the response is cut, without an end line (import-log refuses such a file)
    await expect(get('/v1/admin/log/export')).rejects.toThrow('response destroyed before completion');
    expect((await lastOps()).data).toMatchObject({ action: 'export-log', result: 'failed' });
  });
});
