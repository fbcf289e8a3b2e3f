/**
 * One import in its own process, so its peak RSS is its own: `node import-child.js <csv> <dataDir> [batchSize] [mapping.json]`
 * (default mapping: BENCH_MAPPING).
 * Prints one JSON line: rows, seconds, CPU seconds (user + system), counts and maxRssMb. Used by import.bench.ts.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { loadMappingFile, parseMapping, runImport } from '@cem/backfill';
import { loadConfig } from '@cem/config';
import { openPlatform } from '@cem/platform';

export const BENCH_MAPPING = {
  name: 'bench-purchases',
  source: 'bench-shop',
  input: { format: 'csv', separator: ',', header: true },
  key: ['order_id'],
  events: [
    {
      name: 'purchase',
      type: 'purchase.completed',
      occurredAt: { column: 'ordered_at', type: 'date', format: 'YYYY-MM-DD HH:mm:ss', timeZone: 'Europe/Amsterdam' },
      channel: { column: 'channel', map: { W: 'web', A: 'app', S: 'store' } },
      customer: [{ kind: 'email', value: { column: 'email' } }],
      data: {
        orderId: { column: 'order_id' },
        amount: { column: 'amount', type: 'number' },
        currency: 'EUR',
        items: { column: 'items', type: 'integer' },
      },
    },
  ],
};

async function main() {
  const [file, dataDir, batchSize = '5000', mappingFile] = process.argv.slice(2);
  const platform = openPlatform(loadConfig({ ...process.env, DATA_DIR: dataDir }));
  try {
    const t0 = performance.now();
    const cpu = process.cpuUsage();
    const summary = await runImport({
      file,
      mapping: mappingFile ? loadMappingFile(mappingFile) : parseMapping(BENCH_MAPPING),
      ingestion: platform.ingestion,
      stateDir: join(dataDir, 'imports', 'bench'),
      batchSize: Number(batchSize),
    });
    const seconds = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu);
    process.stdout.write(
      `${JSON.stringify({ seconds, cpuSeconds: (used.user + used.system) / 1e6, ...summary, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
    );
  } finally {
    await platform.close();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
