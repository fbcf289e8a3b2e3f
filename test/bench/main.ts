/**
 * `npm run bench`: every performance figure of the brief, measured side by side in one run and printed
 * as one table (paste it into docs/benchmarks.md). Sizes scale with BENCH_SCALE (default 1).
 */
import 'reflect-metadata';
import { benchIngest } from './ingest.bench';
import { printTable } from './report';

async function main() {
  const scale = Number(process.env.BENCH_SCALE ?? 1);
  const only = (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean);
  const want = (name: string) => only.length === 0 || only.includes(name);
  console.log(`CEM platform benchmark (node ${process.version}, scale ${scale})`);
  if (want('ingest')) await benchIngest({ events: Math.round(100_000 * scale), batchSize: 1000, eventsPerCustomer: 10 });
  printTable();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
