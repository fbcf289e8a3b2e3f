import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMapping, runImport } from '@cem/backfill';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { EsdbDouble } from './support/esdb-double';

/**
 * A backfill batch of 5,000 events for one customer (one append per customer stream, well over the
 * server's 1 MiB MaxAppendSize) imported through the platform on EventStoreDB, against the gRPC double
 * with the server's default limit on: the adapter splits the append, every event lands once, and a
 * re-run of the file finds every event already recorded.
 */
const ROWS = 5000;
const mapping = parseMapping({
  name: 'shop',
  source: 'shop',
  input: { format: 'csv', separator: ',', header: true },
  key: ['order'],
  events: [
    {
      name: 'purchase',
      type: 'purchase.completed',
      occurredAt: { column: 'date', type: 'date', format: 'YYYYMMDD', timeZone: 'Europe/Amsterdam' },
      channel: 'web',
      customer: [{ kind: 'email', value: { column: 'email' } }],
      data: {
        orderId: { column: 'order' },
        amount: { column: 'amount', type: 'number' },
        currency: 'EUR',
        productCategory: { column: 'category' },
      },
    },
  ],
});

describe('a 5,000-event backfill batch for one customer on EventStoreDB (gRPC double, 1 MiB MaxAppendSize)', () => {
  let server: EsdbDouble;
  let platform: Platform;
  let dir: string;

  beforeAll(async () => {
    server = new EsdbDouble();
    await server.start();
    dir = mkdtempSync(join(tmpdir(), 'cem-esdb-backfill-'));
    platform = openPlatform(
      loadConfig({
        DATA_DIR: join(dir, 'data'),
        EVENT_STORE: 'esdb',
        ESDB_CONNECTION_STRING: server.connectionString,
        LOG_LEVEL: 'silent',
      }),
      { now: () => Date.parse('2026-01-01T00:00:00Z') },
    );
  });
  afterAll(async () => {
    await platform?.close();
    server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports every row once in one batch, and a re-run imports nothing new', async () => {
    const category = 'c'.repeat(120); // realistic exports carry long texts; it takes the batch well past 1 MiB
    const rows = Array.from({ length: ROWS }, (_, i) => `o${i},2024010${(i % 9) + 1},ann@example.com,${i % 50}.5,${category}`);
    const file = join(dir, 'shop.csv');
    writeFileSync(file, `order,date,email,amount,category\n${rows.join('\n')}\n`);

    const first = await runImport({ file, mapping, ingestion: platform.ingestion, stateDir: join(dir, 'state'), batchSize: ROWS });
    expect(first).toMatchObject({ status: 'completed', rowsRead: ROWS, eventsImported: ROWS, eventsDuplicate: 0, rowsRejected: 0 });

    // one customer stream holds all of them, written in appends the server accepted
    const purchases = server.log.filter((e) => e.type === 'purchase.completed');
    expect(purchases).toHaveLength(ROWS);
    expect(new Set(purchases.map((e) => e.streamName)).size).toBe(1);
    const stored = purchases.reduce((n, e) => n + e.data.length + e.customMetadata.length + e.type.length * 2, 0);
    expect(stored).toBeGreaterThan(server.maxAppendSize);
    expect(server.stats.largestAppendBytes).toBeLessThanOrEqual(server.maxAppendSize);

    const again = await runImport({
      file,
      mapping,
      ingestion: platform.ingestion,
      stateDir: join(dir, 'state-2'),
      batchSize: ROWS,
    });
    expect(again).toMatchObject({ status: 'completed', eventsImported: 0, eventsDuplicate: ROWS });
    expect(server.log.filter((e) => e.type === 'purchase.completed')).toHaveLength(ROWS);
  }, 180_000);
});
