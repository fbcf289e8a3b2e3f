import { decideSegment, segmentStreamId } from '@cem/domain';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { openReadSide, type ReadSide } from '../read-side';
import { runProjector } from '../run-projector';
import { SEGMENTS } from './segments.schema';
import type { SegmentEvaluation } from './segments.query';

/*
 * PROJECTOR=external: the scheduled evaluation runs in the projector's process (apps/projector's
 * runProjector) and its progress is kept in the read store, so an api process that runs no
 * projector and no scheduler reads it there (GET /v1/segments answers `evaluation` from it).
 */
describe('segment evaluation progress across processes (PROJECTOR=external)', () => {
  let loaded: LoadedPlatform;
  let projector: Awaited<ReturnType<typeof runProjector>> | undefined;
  let api: ReadSide | undefined;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 23, persons: 40, eventsPerPerson: [3, 12] });
    const events = decideSegment(
      {
        kind: 'create',
        segmentId: 'spenders',
        segment: { name: 'Spenders', description: '', rule: { fact: 'purchases', op: '>=', value: 1 }, consentPurpose: null },
        changedBy: 'analyst',
        occurredAt: new Date(loaded.history.now).toISOString(),
      },
      { version: 0, revision: -1, archived: false },
    );
    await loaded.platform.store.appendToStream(
      segmentStreamId('spenders'),
      events.map((e) => ({ ...e, metadata: { ...e.metadata } })),
      { expectedRevision: 'no_stream' },
    );
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    await projector?.close();
    await loaded?.cleanup();
  });

  it('the api process reads the evaluation the projector process ran, from the read store', async () => {
    // a short interval: the projector's scheduler runs the evaluation soon after the definition is projected
    projector = await runProjector({ dataDir: loaded.dir, store: loaded.platform.store, segmentsIntervalMs: 200 });
    api = await openReadSide({ dataDir: loaded.dir, store: loaded.platform.store, projector: 'external' });
    expect(api.scheduler).toBeUndefined();
    expect(api.evaluateSegmentsNow).toBeUndefined();
    const queries = api.queries[SEGMENTS];
    // waits for the work to be done (a run, then its events projected), whatever the machine's speed
    let evaluation: SegmentEvaluation | undefined;
    const deadline = Date.now() + 120_000;
    for (;;) {
      evaluation = await queries.evaluationOf('spenders');
      const segment = await queries.byId('spenders');
      if (evaluation?.state === 'done' && segment && (await queries.size(segment)).size > 0) break;
      if (Date.now() > deadline) throw new Error(`no finished evaluation read by the api process: ${JSON.stringify(evaluation)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const total = await queries.liveCount();
    expect(total).toBeGreaterThan(10);
    expect(evaluation).toEqual({
      segmentId: 'spenders',
      version: 1,
      state: 'done',
      evaluated: total,
      total,
      pending: 0,
      asOf: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(await queries.evaluationOf('nobody')).toBeUndefined();
  }, 180_000);
});
