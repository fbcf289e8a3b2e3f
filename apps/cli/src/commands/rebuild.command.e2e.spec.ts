import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore, type RecordedEvent } from '@cem/event-store';
import type { OpsActionPerformedV1 } from '@cem/domain';
import { openReadStore, startProjector } from '@cem/read-models';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { runTs } from '../../../../test/support/run-ts';

/** `cem rebuild` killed with SIGKILL mid-way resumes from its shadow's checkpoints; its ops records. */
describe('cem rebuild', () => {
  let loaded: LoadedPlatform;
  const env = () => ({ DATA_DIR: loaded.dir, SQLITE_SYNCHRONOUS: 'NORMAL' });

  const cem = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = runTs('apps/cli/src/main.ts', env(), args);
      let out = '';
      let err = '';
      child.stdout?.on('data', (d) => (out += d));
      child.stderr?.on('data', (d) => (err += d));
      child.on('exit', (code) => resolve({ code, out, err }));
    });

  const registry = () => {
    const db = new Database(join(loaded.dir, 'read-models.db'), { readonly: true });
    try {
      return db.prepare('SELECT id, state, owner FROM read_model_rebuilds ORDER BY started_at DESC').all() as {
        id: string;
        state: string;
        owner: string;
      }[];
    } catch {
      return [];
    } finally {
      db.close();
    }
  };
  const shadowCheckpoint = (id: string) => {
    const file = join(loaded.dir, 'read-model-copies', `${id.replace('rb_', 'cem_shadow_')}.db`);
    // the registry's row is written before the shadow's file: until it exists, nothing is committed
    if (!existsSync(file)) return 0;
    const db = new Database(file, { readonly: true });
    try {
      const row = db.prepare("SELECT position FROM projection_checkpoints WHERE projection = 'customer-360'").get() as
        { position: number } | undefined;
      return row?.position ?? 0;
    } catch {
      return 0;
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 41, persons: 150, eventsPerPerson: [5, 25], lateShare: 0 });
    const live = await openReadStore({ kind: 'sqlite', dataDir: loaded.dir }, { role: 'writer' });
    const running = await startProjector({ store: loaded.platform.store, db: live.db, readStore: live, dataDir: loaded.dir });
    await running.projector.whenCaughtUpToHead(60_000);
    await running.close();
    await live.close();
    await loaded.platform.close();
  }, 180_000);
  afterAll(async () => loaded.cleanup().catch(() => undefined));

  it('resumes after kill -9 from what the shadow committed, switches, and records the actions', async () => {
    const child = runTs('apps/cli/src/main.ts', env(), ['rebuild', 'customer-360', '--batch-size', '10', '--no-progress']);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // wait (on the process's own commits, not on time) until the shadow has committed a checkpoint, then kill it
    let committed = 0;
    for (let i = 0; i < 6_000 && committed === 0; i++) {
      const [r] = registry();
      if (r) committed = shadowCheckpoint(r.id);
      if (committed === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGKILL');
    await exited;
    expect(committed).toBeGreaterThan(0);
    const [stalled] = registry();
    expect(stalled.state).toBe('building');
    const kept = shadowCheckpoint(stalled.id);
    expect(kept).toBeGreaterThanOrEqual(committed);

    // the owner's pid is gone: the same command resumes at once, from the kept checkpoint
    const resumed = await cem(['rebuild', 'customer-360', '--no-progress', '--actor', 'ops-1']);
    expect(resumed.err).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.out).toMatch(new RegExp(`^${stalled.id} {2}customer-360 {2}switched \\(done\\)`));
    expect(registry()[0]).toMatchObject({ id: stalled.id, state: 'switched' });

    const verified = await cem(['verify', 'customer-360', '--no-progress']);
    expect(verified.code).toBe(0);

    const bad = await cem(['rebuild', 'customer-360', '--batch-size', '0']);
    expect(bad).toMatchObject({ code: 1, err: '--batch-size: expected a whole number from 1 to 100000, got "0"\n' });
    const refused = await cem(['rebuild', 'all']);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`its old copy is kept: drop it first (cem rebuild drop ${stalled.id})`);
    expect((await cem(['rebuild', 'drop', stalled.id])).code).toBe(0);

    const store = new SqliteEventStore(join(loaded.dir, 'events.db'));
    const ops: RecordedEvent[] = await store.readStream('cem-ops');
    await store.close();
    const records = ops.map((e) => e.data as OpsActionPerformedV1).filter((r) => r.action.startsWith('rebuild'));
    expect(records.map((r) => [r.action, r.result])).toEqual([
      ['rebuild', 'ok'],
      ['rebuild', 'refused'],
      ['rebuild-drop', 'ok'],
    ]);
    expect(records[0]).toMatchObject({ actor: { kind: 'named', name: 'ops-1' }, parameters: { readModels: 'customer-360', switch: true } });
  }, 300_000);
});
