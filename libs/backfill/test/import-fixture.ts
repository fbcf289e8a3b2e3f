import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh embedded platform in a temporary DATA_DIR, plus helpers to write input files. */
export function importFixture() {
  const dir = mkdtempSync(join(tmpdir(), 'cem-backfill-'));
  const platform: Platform = openPlatform(loadConfig({ DATA_DIR: join(dir, 'data'), SQLITE_SYNCHRONOUS: 'NORMAL' }), {
    now: () => Date.parse('2026-01-01T00:00:00Z'),
  });
  return {
    dir,
    platform,
    stateDir: (name = 'import') => join(dir, 'data', 'imports', name),
    file(name: string, content: string | Buffer): string {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    /** touch-point events in the log by type (customer registrations left out) */
    async countByType(): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (const e of await platform.store.readAll({})) if (e.type !== 'customer.registered') counts[e.type] = (counts[e.type] ?? 0) + 1;
      return counts;
    },
    async close() {
      await platform.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
