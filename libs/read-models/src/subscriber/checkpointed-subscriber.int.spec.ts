import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '@cem/event-store';
import { CheckpointedSubscriber, type CheckpointedWorker } from './checkpointed-subscriber';

describe('CheckpointedSubscriber', () => {
  let dir: string;
  let store: SqliteEventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-sub-'));
    store = new SqliteEventStore(join(dir, 'events.db'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops at once while it waits out a retry back-off (a projector told to stop must not sleep on)', async () => {
    let opens = 0;
    let failed!: () => void;
    const firstFailure = new Promise<void>((r) => (failed = r));
    const worker: CheckpointedWorker = {
      name: 'always-failing',
      open: async () => {
        opens++;
        failed();
        throw new Error('read store down');
      },
      handle: async () => undefined,
      flush: async () => undefined,
      abort: async () => undefined,
    };
    // a back-off far longer than the test's timeout: stop() only returns in time if it ends the sleep
    const subscriber = new CheckpointedSubscriber(store, worker, { retryDelayMs: 600_000 });
    subscriber.start();
    await firstFailure;
    await new Promise((r) => setImmediate(r));
    expect(subscriber.status).toBe('retrying');
    await subscriber.stop();
    expect(subscriber.status).toBe('stopped');
    expect(opens).toBe(1);
  }, 10_000);
});
