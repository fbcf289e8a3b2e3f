import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform } from '@cem/platform';
import { envelope, TEST_NOW } from '../../../../test/support/envelopes';
import { finished, runTs } from '../../../../test/support/run-ts';

/** Checks the invariants that must hold whatever the interleaving of writers was. */
function checkInvariants(dataDir: string) {
  const events = new Database(join(dataDir, 'events.db'), { readonly: true });
  const platform = new Database(join(dataDir, 'platform.db'), { readonly: true });
  try {
    // one identifier, one owner, and that owner is a live (not merged-away) customer
    const owners = platform
      .prepare('SELECT i.key, i.customer_id, c.merged_into FROM identity_identifiers i JOIN identity_customers c USING (customer_id)')
      .all() as { key: string; customer_id: string; merged_into: string | null }[];
    expect(owners.filter((o) => o.merged_into !== null)).toEqual([]);
    // every customer stream starts with exactly one registration, at revision 0
    const registrations = events.prepare(`SELECT stream_id, revision FROM events WHERE type = 'customer.registered'`).all() as {
      stream_id: string;
      revision: number;
    }[];
    expect(registrations.every((r) => r.revision === 0)).toBe(true);
    expect(new Set(registrations.map((r) => r.stream_id)).size).toBe(registrations.length);
    const streams = events.prepare('SELECT count(*) AS n FROM streams').get() as { n: number };
    expect(registrations.length).toBe(streams.n);
    // every merged-away customer has its merge recorded on the survivor
    const merged = platform.prepare('SELECT customer_id, merged_into FROM identity_customers WHERE merged_into IS NOT NULL').all() as {
      customer_id: string;
      merged_into: string;
    }[];
    const mergeEvents = events.prepare(`SELECT data FROM events WHERE type = 'customers.merged'`).all() as { data: string }[];
    const recorded = new Set(mergeEvents.flatMap((e) => JSON.parse(e.data).mergedIds as string[]));
    for (const m of merged) expect(recorded.has(m.customer_id)).toBe(true);
    const pending = platform.prepare('SELECT count(*) AS n FROM identity_merges WHERE confirmed = 0').get() as { n: number };
    expect(pending.n).toBe(0);
    return { owners, merged, mergeEvents: mergeEvents.length };
  } finally {
    events.close();
    platform.close();
  }
}

describe('identity resolution under concurrent writers', () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'cem-id-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('never gives one identifier two customers when several processes ingest the same new identifiers', async () => {
    const workers = [0, 1, 2, 3].map((w) =>
      runTs('test/support/workers/ingest-worker.ts', {
        DATA_DIR: dataDir,
        WORKER: String(w),
        COUNT: '60',
        POOL: '12',
        SQLITE_SYNCHRONOUS: 'NORMAL',
      }),
    );
    const outputs = await Promise.all(workers.map(finished));
    expect(outputs.map((o) => JSON.parse(o).written)).toEqual([60, 60, 60, 60]);
    const { owners, mergeEvents } = checkInvariants(dataDir);
    expect(owners).toHaveLength(12);
    // the pool's identifiers are chained pairwise, so everything collapses into one customer
    expect(new Set(owners.map((o) => o.customer_id)).size).toBe(1);
    expect(mergeEvents).toBeGreaterThan(0);
    const events = new Database(join(dataDir, 'events.db'), { readonly: true });
    const visits = events.prepare(`SELECT count(*) AS n FROM events WHERE type = 'web.visited'`).get() as { n: number };
    events.close();
    expect(visits.n).toBe(240);
  }, 120_000);

  it('keeps one customer per identifier when many requests of one process interleave', async () => {
    const platform = openPlatform(loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL' }), { now: () => TEST_NOW });
    const shared = [{ kind: 'email', value: 'shared@example.com' }];
    const results = await Promise.all(
      Array.from({ length: 50 }, () => platform.ingestion.ingest([envelope({ customer: { identifiers: shared } })])),
    );
    expect(new Set(results.map((r) => r[0].customerId)).size).toBe(1);
    await platform.close();
    checkInvariants(dataDir);
  });
});
