import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openReadSide } from '@cem/read-models';
import { SignalStateStore } from '@cem/signals';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { openPlatform } from './platform';

/** Finding 3 of issue 10: the data files hold key hashes, identifiers and personal data. */
describe('data files are owner-only', () => {
  let root: string;
  let previousUmask: number;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cem-modes-'));
    // the most common default umask: without the stores' own care every file would be 0644
    previousUmask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(previousUmask);
    rmSync(root, { recursive: true, force: true });
  });

  const mode = (path: string) => statSync(path).mode & 0o777;

  it('creates the data dir 0700 and every file of a platform, its read side and the signals store 0600 (with -wal and -shm)', async () => {
    const dataDir = join(root, 'data');
    const config = loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'error', API_KEYS: 'ingest:a-key-0123456789' });
    const platform = openPlatform(config, { now: () => TEST_NOW });
    const readSide = await openReadSide({ dataDir, store: platform.store, projector: 'embedded' });
    const signals = new SignalStateStore(join(dataDir, 'signals.db'), 'NORMAL');
    try {
      const [result] = await platform.ingestion.ingest([envelope()]);
      expect(await readSide.whenCaughtUp(result.position, 5000)).toBe(true);

      const files = readdirSync(dataDir);
      for (const base of ['platform.db', 'events.db', 'read-models.db']) {
        expect(files).toEqual(expect.arrayContaining([base, `${base}-wal`, `${base}-shm`]));
      }
      expect(files).toContain('signals.db');
      expect(mode(dataDir)).toBe(0o700);
      expect(Object.fromEntries(files.map((f) => [f, mode(join(dataDir, f))]))).toEqual(Object.fromEntries(files.map((f) => [f, 0o600])));
    } finally {
      signals.close();
      await readSide.close();
      await platform.close();
    }
  });

  it('makes files an older version left world-readable owner-only when it opens them again', async () => {
    const dataDir = join(root, 'data');
    const config = loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'error' });
    const first = openPlatform(config);
    await first.close();
    for (const f of readdirSync(dataDir)) chmodSync(join(dataDir, f), 0o644);
    const again = openPlatform(config);
    try {
      for (const f of readdirSync(dataDir)) expect([f, mode(join(dataDir, f))]).toEqual([f, 0o600]);
    } finally {
      await again.close();
    }
  });
});
