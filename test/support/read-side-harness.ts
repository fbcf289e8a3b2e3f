import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { CUSTOMER_360_TABLES } from '@cem/read-models';
import { generateHistories, type GeneratedHistory, type HistoryOptions } from './customer-histories';

export interface LoadedPlatform {
  dir: string;
  platform: Platform;
  history: GeneratedHistory;
  cleanup(): Promise<void>;
}

/** A platform in a fresh data directory with a generated history ingested through IngestionService. */
export async function platformWithHistory(options: HistoryOptions, batch = 250): Promise<LoadedPlatform> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-rm-'));
  const history = generateHistories(options);
  const platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }), {
    now: () => history.now,
  });
  for (let i = 0; i < history.envelopes.length; i += batch) await platform.ingestion.ingest(history.envelopes.slice(i, i + batch));
  return {
    dir,
    platform,
    history,
    async cleanup() {
      await platform.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ORDER: Record<string, string> = { c360_customers: 'customer_id', c360_identifiers: 'kind, value', c360_timeline: 'position' };

/** Every customer-360 table of a read-model file, row by row, as text: equal text = identical tables. */
export function dumpCustomer360(file: string): Record<string, string> {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, string> = {};
    for (const table of CUSTOMER_360_TABLES) {
      out[table] = db
        .prepare(`SELECT * FROM ${table} ORDER BY ${ORDER[table]}`)
        .raw()
        .all()
        .map((r) => JSON.stringify(r))
        .join('\n');
    }
    return out;
  } finally {
    db.close();
  }
}
