import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportLog, SqliteEventStore, verifyLog, type StreamWrite } from '@cem/event-store';
import { makeEnvelopes, storedEvents } from './ingest.bench';
import { progress, record } from './report';

/**
 * The tamper-evident log (docs/operations.md): `verify-log` (read every event, recompute the
 * SHA-256 chain) and `export-log` (the same walk, written as NDJSON) in events/s, over an embedded
 * store filled through the port's appendMany (the chained write path; the ingest section measures
 * that path's throughput against a raw insert).
 */
export async function benchLog(options: { events: number }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-log-'));
  try {
    console.log(`\n# log: ${options.events.toLocaleString('en-US')} events, verify-log and export-log`);
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    const items = storedEvents(makeEnvelopes(options.events, 10));
    const t0 = performance.now();
    for (let i = 0; i < items.length; i += 1000) {
      const writes = new Map<string, StreamWrite>();
      for (const { streamId, event } of items.slice(i, i + 1000)) {
        const w = writes.get(streamId) ?? { streamId, events: [], expectedRevision: 'any' as const };
        w.events.push(event);
        writes.set(streamId, w);
      }
      await store.appendMany([...writes.values()]);
      progress('fill', Math.min(i + 1000, items.length), items.length, t0);
    }

    const verified = await verifyLog(store);
    if (!verified.ok) throw new Error(`the bench log does not verify: ${verified.problem.reason}`);
    record({
      group: 'log',
      name: `verify-log (recompute the chain over ${options.events.toLocaleString('en-US')} events)`,
      value: (verified.eventsChecked * 1000) / verified.elapsedMs,
      unit: 'events/s',
    });

    let bytes = 0;
    const t1 = performance.now();
    const exported = await exportLog(store, (t) => void (bytes += t.length), { storeName: 'sqlite', exportedAt: new Date().toISOString() });
    const secs = (performance.now() - t1) / 1000;
    record({
      group: 'log',
      name: 'export-log (NDJSON with hashes, stored links checked)',
      value: exported.events / secs,
      unit: 'events/s',
      note: `${(bytes / exported.events).toFixed(0)} bytes/event`,
    });
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
