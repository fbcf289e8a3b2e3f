import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { DEFAULT_MILESTONES, MILESTONES_FILE } from '@cem/read-models/milestones';
import { dropRebuild, openReadSide, openReadStore, READ_MODELS, runRebuild, verifyReadModels, type ReadStore } from '@cem/read-models';
import { generateHistories } from '../../../../test/support/customer-histories';
import { KEYS } from '../../../../test/support/api-harness';
import { TEST_NOW } from '../../../../test/support/envelopes';
import { createApiApp } from '../bootstrap';

/**
 * A read model whose code version changed (here: its configuration, the milestone definitions, which
 * are part of its version) after a restart: the api keeps serving the old copy, readiness says
 * `rebuild-needed` with both versions, and a blue/green rebuild with the new code switches in a copy
 * the projector then goes on from. The default, READ_MODEL_VERSION_CHANGE=hold.
 */
describe('rebuild needed: a new version serves the old copy until the rebuild switches', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cem-rebuild-needed-'));
  const history = generateHistories({ seed: 31, persons: 60, eventsPerPerson: [3, 15], lateShare: 0 });
  const more = generateHistories({ seed: 32, persons: 5, eventsPerPerson: [1, 3], lateShare: 0 });
  let platform: Platform | undefined;
  let app: NestFastifyApplication | undefined;
  let live: ReadStore | undefined;

  async function start(): Promise<void> {
    const config = loadConfig({
      DATA_DIR: dataDir,
      SQLITE_SYNCHRONOUS: 'NORMAL',
      LOG_LEVEL: 'silent',
      API_KEYS: `ingest:${KEYS.ingest},analyst:${KEYS.analyst},ops:${KEYS.ops}`,
    });
    platform = openPlatform(config, { now: () => TEST_NOW });
    app = await createApiApp(platform);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  }
  async function stop(): Promise<void> {
    await app?.close();
    await platform?.close();
    app = undefined;
    platform = undefined;
  }
  const get = (url: string, key = KEYS.analyst) => app!.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  const ingest = async (envelopes: readonly Record<string, unknown>[]) => {
    const res = await app!.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events: envelopes }),
    });
    if (res.statusCode !== 200) throw new Error(`ingest answered ${res.statusCode}: ${res.body}`);
    return res.json().results as { customerId: string; position: number }[];
  };
  const ready = async () => {
    const res = await app!.inject({ method: 'GET', url: '/health/ready' });
    return { statusCode: res.statusCode, body: res.json() };
  };
  const milestonesOf = (body: any) => body.projections.readModels.find((m: { name: string }) => m.name === 'milestones');
  /** polls readiness (the lanes look again every 2 s) until `until` holds */
  async function readyWhen(until: (body: any) => boolean) {
    for (let i = 0; i < 600; i++) {
      const r = await ready();
      if (until(r.body)) return r;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`readiness never got there: ${JSON.stringify((await ready()).body)}`);
  }
  const funnel = `/v1/milestones/funnel?at=${new Date(TEST_NOW).toISOString()}`;

  afterAll(async () => {
    await live?.close();
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('holds the changed read model (old copy served, rebuild-needed with both versions), then resumes from the switched copy', async () => {
    await start();
    for (let i = 0; i < history.envelopes.length; i += 200) await ingest(history.envelopes.slice(i, i + 200));
    const head = await platform!.store.headPosition();
    const before = await get(`${funnel}&minPosition=${head}`);
    expect(before.statusCode).toBe(200);
    await stop();

    // a new version of the milestones read model: a changed deadline in the definitions
    const changed = {
      milestones: [{ ...DEFAULT_MILESTONES[0], deadline: { days: 3, from: 'first-touch' } }, ...DEFAULT_MILESTONES.slice(1)],
    };
    writeFileSync(join(dataDir, MILESTONES_FILE), JSON.stringify(changed));
    await start();
    const held = await readyWhen((b) => milestonesOf(b).status === 'rebuild-needed');
    expect(held.statusCode).toBe(200);
    expect(held.body.status).toBe('ready');
    expect(held.body.projections.rebuildNeeded).toEqual(['milestones']);
    const versions = milestonesOf(held.body).rebuildNeeded;
    expect(versions).toEqual({ liveVersion: expect.any(Number), codeVersion: expect.any(Number) });
    expect(versions.liveVersion).not.toBe(versions.codeVersion);
    expect(milestonesOf(held.body).checkpoint).toBe(head);
    // an api with PROJECTOR=external sees it in the stored checkpoints, against its own code's versions
    const external = await openReadSide({ dataDir, store: platform!.store, projector: 'external' });
    try {
      const health = await external.health();
      expect(health.rebuildNeeded).toEqual(['milestones']);
      expect(health.readModels.find((m) => m.name === 'milestones')).toMatchObject({ status: 'rebuild-needed', rebuildNeeded: versions });
      expect(health.readModels.filter((m) => m.status === 'external').length).toBe(READ_MODELS.length - 1);
    } finally {
      await external.close();
    }
    // the other read models are not held
    expect(held.body.projections.readModels.filter((m: { status: string }) => m.status === 'rebuild-needed').length).toBe(1);

    // the old copy keeps serving, unchanged; new events reach the others but not the held one
    expect((await get(funnel)).json()).toEqual(before.json());
    const [written] = await ingest(more.envelopes.slice(0, 1));
    expect((await get(`/v1/customers/${written.customerId}?minPosition=${written.position}`)).statusCode).toBe(200);
    const lagging = await get(`${funnel}&minPosition=${written.position}`);
    expect(lagging.statusCode).toBe(503);
    expect((await get(funnel)).json()).toEqual(before.json());
    expect(milestonesOf((await ready()).body)).toMatchObject({
      status: 'rebuild-needed',
      checkpoint: head,
      lagEvents: written.position - head,
    });

    // the blue/green rebuild with this code (its definitions) switches in a copy of the new version
    live = await openReadStore({ kind: 'sqlite', dataDir }, { role: 'writer' });
    const ctx = { store: platform!.store, location: { kind: 'sqlite' as const, dataDir }, live, dataDir, heartbeatMs: 50 };
    const milestones = READ_MODELS.filter((m) => m.name === 'milestones');
    const record = await runRebuild(ctx, milestones);
    expect(record.state).toBe('switched');

    // the projector finds its version and goes on from the switched checkpoint
    const resumed = await readyWhen((b) => milestonesOf(b).status !== 'rebuild-needed');
    expect(resumed.body.projections.rebuildNeeded).toEqual([]);
    expect(milestonesOf(resumed.body).rebuildNeeded).toBeUndefined();
    const [after] = await ingest(more.envelopes.slice(1, 2));
    const answered = await get(`${funnel}&minPosition=${after.position}`);
    expect(answered.statusCode).toBe(200);
    expect(answered.json()).not.toEqual(before.json());
    const definitions = await get(`/v1/milestones/definitions?minPosition=${after.position}`);
    expect(definitions.json().active).toMatchObject({ version: 2, active: true });
    expect(definitions.json().active.milestones[0].deadline).toEqual({ days: 3, from: 'first-touch' });
    const verdicts = await verifyReadModels({ store: platform!.store, location: ctx.location, live, readModels: milestones, dataDir });
    expect(verdicts.map((v) => [v.readModel, v.status, v.liveVersion === v.codeVersion])).toEqual([['milestones', 'equal', true]]);
    await dropRebuild(ctx, record.id);
  }, 300_000);
});
