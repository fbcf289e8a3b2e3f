/**
 * A separate writer process for concurrency tests: ingests `COUNT` events whose identifiers come from
 * a small shared pool, into the platform at DATA_DIR, in small batches, as fast as it can.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@cem/config';
import { openPlatform } from '@cem/platform';

async function main() {
  const count = Number(process.env.COUNT ?? 100);
  const pool = Number(process.env.POOL ?? 20);
  const worker = process.env.WORKER ?? '0';
  const platform = openPlatform(loadConfig(), { now: () => Date.parse('2026-11-21T12:00:00Z') });
  let written = 0;
  for (let i = 0; i < count; i += 5) {
    const batch = Array.from({ length: Math.min(5, count - i) }, (_, j) => {
      const n = (i + j) * 7 + Number(worker) * 3;
      // two identifiers per event: neighbours in the pool, so pairs chain customers together (merges)
      const a = n % pool;
      const b = (n + 1) % pool;
      return {
        eventId: randomUUID(),
        type: 'web.visited',
        occurredAt: '2026-11-20T09:15:00Z',
        source: `worker-${worker}`,
        channel: 'web',
        customer: { identifiers: [{ kind: 'cookie', value: `ck-${a}` }, ...(j % 2 === 0 ? [{ kind: 'cookie', value: `ck-${b}` }] : [])] },
        data: { url: 'https://shop.example.com/' },
      };
    });
    written += (await platform.ingestion.ingest(batch)).length;
  }
  await platform.close();
  process.stdout.write(JSON.stringify({ worker, written }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
