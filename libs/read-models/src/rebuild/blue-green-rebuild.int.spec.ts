import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { READ_MODELS } from '../read-models';
import { openReadStore } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import type { RebuildRecord } from './rebuild-registry';
import { runRebuild } from './blue-green-rebuild';

/** The blue/green rebuild on the embedded read store: its heartbeat keeps beating while it projects. */
describe('blue/green rebuild on SQLite: heartbeat', () => {
  let loaded: LoadedPlatform;
  let live: ReadStore;

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 41, persons: 40, eventsPerPerson: [5, 15], lateShare: 0 });
    live = await openReadStore({ kind: 'sqlite', dataDir: loaded.dir }, { role: 'writer' });
  }, 120_000);
  afterAll(async () => {
    await live?.close();
    await loaded?.cleanup();
  });

  it('saves progress while the shadow is projected, not only between phases (a silent heartbeat looks like a dead rebuild)', async () => {
    const saved: RebuildRecord[] = [];
    const ctx = {
      store: loaded.platform.store,
      location: { kind: 'sqlite' as const, dataDir: loaded.dir },
      live,
      dataDir: loaded.dir,
      batchSize: 20,
      heartbeatMs: 1,
      onProgress: (r: RebuildRecord) => saved.push(r),
    };
    const record = await runRebuild(ctx, READ_MODELS);
    expect(record.state).toBe('switched');
    const head = await loaded.platform.store.headPosition();
    // mid-projection snapshots: only the heartbeat's timer saves those
    const midway = saved.filter((r) => r.phase === 'projecting' && r.events > 0 && r.position < head);
    expect(midway.length).toBeGreaterThan(0);
  }, 120_000);
});
