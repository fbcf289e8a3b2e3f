import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { createApiApp, type ApiAppOptions } from '../../apps/api/src/bootstrap';
import { TEST_NOW } from './envelopes';

export const KEYS = {
  ingest: 'test-ingest-key-0123456789',
  analyst: 'test-analyst-key-0123456789',
  ops: 'test-ops-key-0123456789',
};

export interface ApiHarness {
  app: NestFastifyApplication;
  platform: Platform;
  dataDir: string;
  close(): Promise<void>;
}

/** The whole HTTP app on a fresh embedded data dir, with one key per role and a fixed clock. */
export async function startApi(env: Record<string, string> = {}, options: ApiAppOptions = {}): Promise<ApiHarness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cem-api-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    SQLITE_SYNCHRONOUS: 'NORMAL',
    LOG_LEVEL: 'error',
    API_KEYS: `ingest:${KEYS.ingest},analyst:${KEYS.analyst},ops:${KEYS.ops}`,
    ...env,
  });
  const platform = openPlatform(config, { now: () => TEST_NOW });
  const app = await createApiApp(platform, options);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return {
    app,
    platform,
    dataDir,
    async close() {
      await app.close();
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
