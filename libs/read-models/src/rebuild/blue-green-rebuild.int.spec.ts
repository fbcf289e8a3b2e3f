import { generateHistories } from '../../../../test/support/customer-histories';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { readCheckpoints } from '../projector/checkpoints';
import { READ_MODELS } from '../read-models';
import { openReadStore } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { openReadStoreCopy, readStoreCopyExists } from '../store/read-store-copy';
import { verifyReadModels } from '../verify/verify-read-models';
import { readRebuild, type RebuildRecord } from './rebuild-registry';
import { dropRebuild, RebuildStopped, runRebuild, scratchCopyOf, switchRebuild } from './blue-green-rebuild';

/** The blue/green rebuild on the embedded read store. */
describe('blue/green rebuild on SQLite', () => {
  let loaded: LoadedPlatform;
  let live: ReadStore;
  const location = () => ({ kind: 'sqlite' as const, dataDir: loaded.dir });
  const context = (extra: Record<string, unknown> = {}) => ({
    store: loaded.platform.store,
    location: location(),
    live,
    dataDir: loaded.dir,
    batchSize: 20,
    heartbeatMs: 1,
    followIntervalMs: 5,
    ...extra,
  });
  /** the live copy equals a fresh rebuild of every read model to its checkpoint (`cem verify`) */
  const expectLiveEqualsFreshRebuild = async () => {
    const verdicts = await verifyReadModels({
      store: loaded.platform.store,
      location: location(),
      live,
      readModels: READ_MODELS,
      dataDir: loaded.dir,
    });
    expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
  };

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 41, persons: 40, eventsPerPerson: [5, 15], lateShare: 0 });
    live = await openReadStore(location(), { role: 'writer' });
  }, 120_000);
  afterAll(async () => {
    await live?.close();
    await loaded?.cleanup();
  });

  it('saves progress while the shadow is projected, not only between phases (a silent heartbeat looks like a dead rebuild)', async () => {
    const saved: RebuildRecord[] = [];
    const record = await runRebuild(context({ onProgress: (r: RebuildRecord) => saved.push(r) }), READ_MODELS);
    expect(record.state).toBe('switched');
    const head = await loaded.platform.store.headPosition();
    // mid-projection snapshots: only the heartbeat's timer saves those
    const midway = saved.filter((r) => r.phase === 'projecting' && r.events > 0 && r.position < head);
    expect(midway.length).toBeGreaterThan(0);
    expect(record.message).toMatch(/switched at position \d+ \(\d+ ms under the live write lock, rows copied from the shadow file\)/);
    await dropRebuild(context(), record.id);
  }, 120_000);

  it('verifies the shadow at the fixed position its catch-up reached while it keeps following the log; the switched copy equals a fresh rebuild', async () => {
    const more = generateHistories({ seed: 42, persons: 15, eventsPerPerson: [3, 8], lateShare: 0 });
    const saved: RebuildRecord[] = [];
    let verifiedAt = -1;
    const ctx = context({
      onProgress: (r: RebuildRecord) => saved.push(r),
      // events arrive after the position is fixed and before the scratch copy is projected to it
      onVerifyingAt: async (position: number) => {
        verifiedAt = position;
        await loaded.platform.ingestion.ingest(more.envelopes);
      },
    });
    const record = await runRebuild(ctx, READ_MODELS, false);
    expect(record).toMatchObject({ state: 'verified', phase: 'waiting-for-switch', message: `verified at position ${verifiedAt}` });
    const head = await loaded.platform.store.headPosition();
    expect(verifiedAt).toBeLessThan(head);
    // the progress of the verification, readable from the registry meanwhile: the scratch copy towards P
    const verifying = saved.filter((r) => r.phase === 'verifying');
    expect(verifying.some((r) => r.targetPosition === verifiedAt && r.position > 0 && r.position < verifiedAt)).toBe(true);
    expect(verifying.some((r) => /the shadow follows the log/.test(r.message ?? ''))).toBe(true);
    // the shadow followed the log past P during the verification (every event ingested before it began)
    const shadow = await openReadStoreCopy(location(), record.shadowCopy, READ_MODELS);
    try {
      const positions = await readCheckpoints(
        shadow.db,
        READ_MODELS.map((m) => m.name),
      );
      expect([...positions.values()]).toEqual(READ_MODELS.map(() => head));
    } finally {
      await shadow.close();
    }
    expect(await readStoreCopyExists(location(), live, scratchCopyOf(record.shadowCopy))).toBe(false);
    const switched = await switchRebuild(ctx, record.id);
    expect(switched.state).toBe('switched');
    expect((await readCheckpoints(live.db, ['customer-360'])).get('customer-360')).toBe(head);
    await expectLiveEqualsFreshRebuild();
    await dropRebuild(ctx, record.id);
  }, 180_000);

  it('resumes a rebuild interrupted while it verified: it verifies again, at its new position, and switches', async () => {
    let verifying = false;
    let turns = 0;
    const first = context({
      onVerifyingAt: () => {
        verifying = true;
      },
      // stops once the scratch copy made a few batches
      shouldStop: () => verifying && ++turns > 5,
    });
    let claimed: RebuildRecord | undefined;
    await expect(runRebuild({ ...first, onClaimed: (r: RebuildRecord) => (claimed = r) }, READ_MODELS)).rejects.toBeInstanceOf(
      RebuildStopped,
    );
    const interrupted = (await readRebuild(live.db, claimed!.id))!;
    expect(interrupted).toMatchObject({ state: 'building', phase: 'verifying' });
    expect(await readStoreCopyExists(location(), live, scratchCopyOf(interrupted.shadowCopy))).toBe(true);

    // ingestion went on meanwhile
    await loaded.platform.ingestion.ingest(generateHistories({ seed: 43, persons: 5, eventsPerPerson: [3, 8], lateShare: 0 }).envelopes);
    const phases: string[] = [];
    const resumed = await runRebuild(context({ staleAfterMs: 0, onProgress: (r: RebuildRecord) => phases.push(r.phase) }), READ_MODELS);
    expect(resumed).toMatchObject({ id: interrupted.id, state: 'switched' });
    expect(phases).toContain('verifying');
    expect(await readStoreCopyExists(location(), live, scratchCopyOf(interrupted.shadowCopy))).toBe(false);
    await expectLiveEqualsFreshRebuild();
    await dropRebuild(context(), resumed.id);
  }, 180_000);
});
