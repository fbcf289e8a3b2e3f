import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '@cem/event-store';
import { customerAsOfFromLog, type AsOfBasis } from '@cem/read-models';
import { auditTrailOf, readCustomerLog } from '@cem/read-models/audit';
import { writeLog } from './projection.bench';
import { record } from './report';

export interface AsOfBenchOptions {
  /** events in the log; every customer gets `eventsPerCustomer` of them */
  events: number;
  eventsPerCustomer: number;
  /** views computed per measurement */
  queries?: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * As-of views and audit trails (docs/operations.md): one customer of `eventsPerCustomer` events,
 * folded from its stream on the embedded store, in process (no HTTP), p50 / p99 over many customers.
 */
export async function benchAsOf(options: AsOfBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-asof-'));
  const customers = Math.max(1, Math.round(options.events / options.eventsPerCustomer));
  const queries = options.queries ?? 300;
  try {
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    console.log(`as-of views: writing ${options.events.toLocaleString('en-US')} events, ${options.eventsPerCustomer} per customer`);
    writeLog(store, options.events, customers);
    const ids = (await store.readAll({ maxCount: customers * 2 }))
      .filter((e) => e.type === 'customer.registered')
      .map((e) => e.streamId.slice(9));
    // the bench log's occurredAt spans 500 days from 2025-01-01: look at its middle
    const at = Date.parse('2025-08-01T00:00:00Z');
    const time = async (label: string, run: (id: string) => Promise<unknown>) => {
      for (let i = 0; i < Math.min(20, queries); i++) await run(ids[i % ids.length]); // warm up
      const times: number[] = [];
      for (let i = 0; i < queries; i++) {
        const started = performance.now();
        await run(ids[(i * 31) % ids.length]);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      const note = `one customer with ${options.eventsPerCustomer.toLocaleString('en-US')} events, ${queries} queries`;
      record({ group: 'as-of / audit', name: `${label} p50`, value: percentile(times, 50), unit: 'ms', note });
      record({ group: 'as-of / audit', name: `${label} p99`, value: percentile(times, 99), unit: 'ms', note });
    };
    for (const by of ['occurred', 'recorded'] as AsOfBasis[]) {
      const when = by === 'recorded' ? Date.now() : at;
      await time(`as-of view by ${by}`, async (id) => {
        const found = await customerAsOfFromLog(store, id, when, by);
        if (found.kind !== 'found') throw new Error(`as-of bench: ${id} ${found.kind}`);
      });
    }
    await time('audit trail (whole, JSON)', async (id) => {
      const log = await readCustomerLog(store, id);
      if (log.kind !== 'found') throw new Error(`audit bench: ${id} ${log.kind}`);
      JSON.stringify(auditTrailOf(log, { generatedAt: Date.now(), headPosition: await store.headPosition() }));
    });
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
