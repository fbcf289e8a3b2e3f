import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startProjector, openSqliteReadStore } from '@cem/read-models';
import { dumpCustomer360, platformWithHistory, type LoadedPlatform } from '../../../test/support/read-side-harness';
import { runTs } from '../../../test/support/run-ts';

/** The stored checkpoint of the customer-360 projection, read as another process would. */
function checkpoint(file: string): number {
  if (!existsSync(file)) return 0;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const has = db.prepare(`SELECT name FROM sqlite_master WHERE name = 'projection_checkpoints'`).get();
    if (!has) return 0;
    return (
      (
        db.prepare(`SELECT position FROM projection_checkpoints WHERE projection = 'customer-360'`).get() as
          { position: number } | undefined
      )?.position ?? 0
    );
  } finally {
    db.close();
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('projector process (apps/projector)', () => {
  let loaded: LoadedPlatform;
  let head: number;
  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 11, persons: 700, eventsPerPerson: [5, 30], lateShare: 0.1 });
    head = await loaded.platform.store.headPosition();
  }, 120_000);
  afterAll(() => loaded?.cleanup());

  it('killed with SIGKILL mid-run, twice, then restarted: read models identical to an uninterrupted run', async () => {
    // uninterrupted reference, in this process
    const reference = await openSqliteReadStore(join(loaded.dir, 'reference.db'));
    const running = await startProjector({ store: loaded.platform.store, db: reference.db, batchSize: 500 });
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await running.close();
    await reference.close();

    const file = join(loaded.dir, 'read-models.db');
    const env = { DATA_DIR: loaded.dir, SQLITE_SYNCHRONOUS: 'NORMAL', PROJECTOR_BATCH_SIZE: '37', LOG_LEVEL: 'error' };
    const killedAt: number[] = [];
    for (const share of [0.3, 0.65]) {
      const child = runTs('apps/projector/src/main.ts', env);
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await until(() => checkpoint(file) > head * share, 90_000);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      killedAt.push(checkpoint(file));
    }
    expect(killedAt[0]).toBeLessThan(head);
    expect(killedAt[1]).toBeLessThan(head);

    const child = runTs('apps/projector/src/main.ts', env);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until(() => checkpoint(file) === head, 90_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    expect(dumpCustomer360(file)).toEqual(dumpCustomer360(join(loaded.dir, 'reference.db')));
  }, 300_000);
});
