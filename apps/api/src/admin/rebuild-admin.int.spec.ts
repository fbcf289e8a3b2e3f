import type { OpsActionPerformedV1 } from '@cem/domain';
import { apiKeyActor } from '@cem/platform';
import { openReadStore, READ_MODELS, verifyReadModels } from '@cem/read-models';
import { generateHistories } from '../../../../test/support/customer-histories';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import { RebuildJobs } from './read-model-jobs';

/**
 * The rebuild and verify commands as admin endpoints (role ops): start a rebuild in the background,
 * follow it, switch and drop it; verify the read models as a job. Every refusal is its documented
 * 4xx with nothing started, switched or dropped; every action an ops event naming the key.
 */
describe('admin API: rebuilds and read-model verification', () => {
  let api: ApiHarness;
  const history = generateHistories({ seed: 51, persons: 50, eventsPerPerson: [3, 12], lateShare: 0.1 });
  const later = generateHistories({ seed: 52, persons: 10, eventsPerPerson: [2, 5], lateShare: 0 });
  const names = READ_MODELS.map((m) => m.name);
  // a verification started over HTTP waits in its worker until the test lets it go (the 409 is asserted while it certainly runs)
  const verifyHold = new Int32Array(new SharedArrayBuffer(4));
  const releaseVerification = () => {
    Atomics.store(verifyHold, 0, 1);
    Atomics.notify(verifyHold, 0);
  };

  const call = (method: 'GET' | 'POST', url: string, body?: unknown, key: string | null = KEYS.ops) =>
    api.app.inject({
      method,
      url,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
    for (let i = 0; i < 3_000; i++) {
      const v = await read();
      if (done(v)) return v;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('never got there');
  }
  async function opsRecords(): Promise<OpsActionPerformedV1[]> {
    try {
      return (await api.platform.store.readStream('cem-ops')).map((e) => e.data as OpsActionPerformedV1);
    } catch {
      return []; // no ops event yet
    }
  }

  beforeAll(async () => {
    api = await startApi({}, { readModelWorkers: { verify: { holdAfterClaim: verifyHold } } });
    for (let i = 0; i < history.envelopes.length; i += 200) {
      const res = await call('POST', '/v1/events:batch', { events: history.envelopes.slice(i, i + 200) }, KEYS.ingest);
      if (res.statusCode !== 200) throw new Error(`ingest answered ${res.statusCode}`);
    }
    // the read store exists and every read model has projected the log
    await until(
      async () => (await call('GET', '/health/ready', undefined, null)).json(),
      (b) => b.projections.lagEvents === 0 && b.status === 'ready',
    );
  }, 120_000);
  afterAll(async () => {
    releaseVerification(); // a failed test must not leave a worker held: closing waits for it
    await api?.close();
  });

  it('refuses bad bodies (400 naming the field), unknown rebuilds (404) and other roles, before anything is started', async () => {
    const bad: [unknown, string][] = [
      [{}, 'readModels'],
      [{ readModels: [] }, 'readModels'],
      [{ readModels: ['nosuch'] }, 'readModels'],
      [{ readModels: 'all' }, 'readModels'],
      [{ readModels: ['all'], batchSize: 0 }, 'batchSize'],
      [{ readModels: ['all'], switch: 'yes' }, 'switch'],
      [{ readModels: ['all'], extra: 1 }, 'extra'],
      ['null', 'body'],
      ['[]', 'body'],
    ];
    for (const [body, field] of bad) {
      const res = await call('POST', '/v1/admin/rebuilds', body);
      expect([res.statusCode, JSON.stringify(body)]).toEqual([400, JSON.stringify(body)]);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    for (const [body, field] of [
      [{ readModels: ['nosuch'] }, 'readModels'],
      [{ readModels: [] }, 'readModels'],
      [{ other: 1 }, 'other'],
    ] as const) {
      const res = await call('POST', '/v1/admin/read-models/verifications', body);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    for (const url of ['/v1/admin/rebuilds/rb_0000000000', '/v1/admin/rebuilds/nope'])
      expect((await call('GET', url)).statusCode).toBe(404);
    for (const what of ['switch', 'drop']) {
      expect((await call('POST', `/v1/admin/rebuilds/rb_0000000000/${what}`, {})).statusCode).toBe(404);
      expect((await call('POST', `/v1/admin/rebuilds/x/${what}`, {})).statusCode).toBe(404);
    }
    expect((await call('POST', '/v1/admin/rebuilds/rb_0000000000/switch')).statusCode).toBe(400);
    expect((await call('POST', '/v1/admin/rebuilds/rb_0000000000/drop', { force: true })).statusCode).toBe(400);
    expect((await call('GET', '/v1/admin/read-models/verifications/5b0c9e1e-7d1a-4c55-9f0e-2f2d7d1c0a01')).statusCode).toBe(404);
    expect((await call('POST', '/v1/admin/rebuilds', { readModels: ['all'] }, KEYS.analyst)).statusCode).toBe(403);
    expect((await call('POST', '/v1/admin/rebuilds', { readModels: ['all'] }, null)).statusCode).toBe(401);
    expect((await call('POST', '/v1/admin/read-models/verifications', {}, KEYS.ingest)).statusCode).toBe(403);
    expect((await call('GET', '/v1/admin/rebuilds')).json().rebuilds).toEqual([]);
    expect(await opsRecords()).toEqual([]);
  });

  it('starts a rebuild (202), refuses a second (409), switches and drops it, each an ops event', async () => {
    const started = await call('POST', '/v1/admin/rebuilds', { readModels: ['customer-360', 'churn-risk'], switch: false, batchSize: 200 });
    expect(started.statusCode).toBe(202);
    const id = started.json().id as string;
    expect(started.json()).toMatchObject({
      id: expect.stringMatching(/^rb_[0-9a-f]{10}$/),
      state: 'building',
      readModels: ['customer-360', 'churn-risk'],
    });
    // refused whether the first is still running in its worker thread or already verified (waiting for its switch)
    const second = await call('POST', '/v1/admin/rebuilds', { readModels: ['all'] });
    expect(second.statusCode).toBe(409);
    expect(second.json().message).toContain(id);
    const verified = await until(
      async () => (await call('GET', `/v1/admin/rebuilds/${id}`)).json(),
      (r) => r.state !== 'building',
    );
    expect(verified).toMatchObject({ id, state: 'verified', phase: 'waiting-for-switch' });
    expect(Object.keys(verified.checksums)).toEqual(['customer-360', 'churn-risk']);

    const switched = await call('POST', `/v1/admin/rebuilds/${id}/switch`, {});
    expect(switched.statusCode).toBe(200);
    expect(switched.json()).toMatchObject({ id, state: 'switched', oldCopy: expect.stringMatching(/^cem_old_/) });
    expect((await call('POST', `/v1/admin/rebuilds/${id}/switch`, {})).statusCode).toBe(409);
    const dropped = await call('POST', `/v1/admin/rebuilds/${id}/drop`, {});
    expect(dropped.statusCode).toBe(200);
    expect(dropped.json()).toMatchObject({ id, state: 'dropped' });
    expect((await call('POST', `/v1/admin/rebuilds/${id}/drop`, {})).statusCode).toBe(409);
    // the next rebuild from the API waits out the cooldown: nothing started
    const tooSoon = await call('POST', '/v1/admin/rebuilds', { readModels: ['customer-360'] });
    expect(tooSoon.statusCode).toBe(429);
    expect(tooSoon.json().message).toMatch(/ended less than 60 s ago/);

    const records = await opsRecords();
    const summary = records.map((r) => [r.action, r.result]);
    // the first (ok once verified) and the second POST, refused while the first ran, in either order
    expect(
      summary
        .slice(0, 2)
        .map((x) => x.join(' '))
        .sort(),
    ).toEqual(['rebuild ok', 'rebuild refused']);
    expect(summary.slice(-4)).toEqual([
      ['rebuild-switch', 'ok'],
      ['rebuild-switch', 'refused'],
      ['rebuild-drop', 'ok'],
      ['rebuild-drop', 'refused'],
    ]);
    for (const r of records) expect(r.actor).toEqual({ kind: 'api-key', name: expect.any(String) });
    expect(records.find((r) => r.action === 'rebuild' && r.result === 'ok')!.parameters).toEqual({
      readModels: 'customer-360,churn-risk',
      switch: false,
    });
  }, 300_000);

  it('verifies the read models as a job (202, 409 while it runs, then the verdicts), recorded as verify', async () => {
    const started = await call('POST', '/v1/admin/read-models/verifications', {});
    expect(started.statusCode).toBe(202);
    const job = started.json();
    expect(job).toMatchObject({ status: 'running', readModels: names, verdicts: null, finishedAt: null });
    // its worker holds before its first batch until released: the second request certainly meets it running
    const second = await call('POST', '/v1/admin/read-models/verifications', { readModels: ['customer-360'] });
    expect(second.statusCode).toBe(409);
    expect(second.json().message).toContain(job.jobId);
    expect((await call('GET', `/v1/admin/read-models/verifications/${job.jobId}`)).json().status).toBe('running');
    releaseVerification();

    const done = await until(
      async () => (await call('GET', `/v1/admin/read-models/verifications/${job.jobId}`)).json(),
      (j) => j.status !== 'running',
    );
    expect(done.status).toBe('equal');
    expect(done.progress.fraction).toBe(1);
    expect(done.verdicts.map((v: { readModel: string; status: string }) => [v.readModel, v.status])).toEqual(
      names.map((n) => [n, 'equal']),
    );
    const c360 = done.verdicts.find((v: { readModel: string }) => v.readModel === 'customer-360');
    expect(c360.liveChecksum).toBe(c360.rebuiltChecksum);
    expect(c360.rows).toBeGreaterThan(0);

    expect((await call('POST', '/v1/admin/read-models/verifications', {})).statusCode).toBe(429);
    const verify = (await opsRecords()).filter((r) => r.action === 'verify');
    expect(verify).toHaveLength(1);
    expect(verify[0]).toMatchObject({ result: 'ok', parameters: { readModels: names.join(','), jobId: job.jobId } });
  }, 300_000);

  /**
   * A rebuild started from the admin API runs in a worker thread: while it runs (here held still in its
   * worker right after it claimed the rebuild, where a synchronous batch would have held the API's event
   * loop), the API answers readiness, ingests, and shows the new events in the live copy; then the
   * rebuild goes on and switches, and the live copy equals a fresh rebuild.
   */
  it('answers readiness, ingestion and reads while the rebuild runs, then switches to a copy equal to a fresh rebuild', async () => {
    const hold = new Int32Array(new SharedArrayBuffer(4));
    const jobs = new RebuildJobs(api.platform, undefined, Date.now, { holdAfterClaim: hold });
    const started = await jobs.start(apiKeyActor({ name: 'ops-test' }), READ_MODELS, true, 100);
    try {
      expect(started).toMatchObject({ state: 'building', readModels: READ_MODELS.map((m) => m.name) });

      // the worker holds after its claim: everything below is answered while the rebuild is running
      const ready = await call('GET', '/health/ready', undefined, null);
      expect(ready.statusCode).toBe(200);
      expect(ready.json().status).toBe('ready');
      const ingested = await call('POST', '/v1/events:batch', { events: later.envelopes }, KEYS.ingest);
      expect(ingested.statusCode).toBe(200);
      const results = ingested.json().results as { eventId: string; customerId: string; position: number }[];
      expect(results.map((r) => r.eventId)).toEqual(later.envelopes.map((e) => e.eventId));
      // each new event is in its customer's live timeline (read-your-writes through minPosition)
      const head = Math.max(...results.map((r) => r.position));
      for (const r of results) {
        const timeline = await call('GET', `/v1/customers/${r.customerId}/timeline?minPosition=${head}&limit=200`, undefined, KEYS.analyst);
        expect(timeline.statusCode).toBe(200);
        expect(timeline.json().items.map((e: { eventId: string }) => e.eventId)).toContain(r.eventId);
      }
      const progress = await call('GET', `/v1/admin/rebuilds/${started.id}`);
      expect(progress.json()).toMatchObject({ id: started.id, state: 'building' });
    } finally {
      Atomics.store(hold, 0, 1);
      Atomics.notify(hold, 0);
    }

    const record = await until(
      async () => (await call('GET', `/v1/admin/rebuilds/${started.id}`)).json(),
      (r) => r.state !== 'building' && r.phase !== 'switching',
    );
    expect(record).toMatchObject({ state: 'switched' });
    expect(Object.keys(record.checksums)).toEqual(READ_MODELS.map((m) => m.name));
    await jobs.close();

    // the ops event, recorded by the API's thread
    const ops = (await opsRecords()).filter((r) => r.actor.name === 'ops-test');
    expect(ops.map((r) => [r.action, r.result])).toEqual([['rebuild', 'ok']]);

    // the switched live copy is what a fresh rebuild gives (the projector went on from the shadow's checkpoints)
    const head = await api.platform.store.headPosition();
    await until(
      async () => (await call('GET', '/health/ready', undefined, null)).json(),
      (b) => b.projections.checkpoint >= head && b.projections.lagEvents === 0,
    );
    const live = await openReadStore({ kind: 'sqlite', dataDir: api.dataDir }, { role: 'reader' });
    try {
      const verdicts = await verifyReadModels({
        store: api.platform.store,
        location: { kind: 'sqlite', dataDir: api.dataDir },
        live,
        readModels: READ_MODELS,
        dataDir: api.dataDir,
      });
      expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
    } finally {
      await live.close();
    }
  }, 300_000);
});
