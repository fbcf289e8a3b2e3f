/**
 * `npm run bench`: every performance figure of the brief, measured side by side in one run and printed
 * as one table (paste it into docs/benchmarks.md). Sizes scale with BENCH_SCALE (default 1 = the
 * brief's sizes); BENCH_ONLY=ingest,import,projection,metrics,churn,milestones,targets,segments,as-of,esdb,kafka,log,rebuild,privacy
 * picks sections (metrics, churn, milestones and targets share one log and one rebuild of every read model;
 * BENCH_SHARE=0 skips the rebuilds that measure each one's share; BENCH_REBUILD_EVENTS sets the rebuild section's log size
 * alone, BENCH_REBUILD_VIA=api has the API run that rebuild instead of `cem rebuild`).
 */
import 'reflect-metadata';
import os from 'node:os';
import { benchKafkaIngest } from '../../apps/kafka-ingest/bench/kafka-ingest.bench';
import { benchAsOf } from './as-of.bench';
import { benchEsdbIngest } from './esdb.bench';
import { benchImport } from './import.bench';
import { benchIngest } from './ingest.bench';
import { benchLog } from './log.bench';
import { benchPrivacy } from './privacy.bench';
import { benchProjection } from './projection.bench';
import { benchReadModels, READ_MODEL_SECTIONS } from './read-models.bench';
import { benchRebuild } from './rebuild.bench';
import { loadAverage, peakRssMb, printTable, record } from './report';

async function main() {
  const scale = Number(process.env.BENCH_SCALE ?? 1);
  const only = (process.env.BENCH_ONLY ?? '').split(',').filter(Boolean);
  const want = (name: string) => only.length === 0 || only.includes(name);
  const n = (x: number) => Math.max(1000, Math.round(x * scale));
  console.log(`CEM platform benchmark (node ${process.version}, scale ${scale}, ${new Date().toISOString()})`);
  // the machines are shared: the load around the run belongs next to its figures
  const loadAtStart = loadAverage();
  const runStarted = performance.now();
  // each section's wall time and the load around it, so a reader sees which figures a busy spell touched
  const section = async (name: string, run: () => Promise<unknown>) => {
    const started = performance.now();
    const load = loadAverage();
    await run();
    console.log(`  [${name}: ${((performance.now() - started) / 1000).toFixed(0)} s, load ${load} -> ${loadAverage()}]`);
  };
  if (want('ingest')) await section('ingest', () => benchIngest({ events: n(100_000), batchSize: 1000, eventsPerCustomer: 10 }));
  if (want('import')) await section('import', () => benchImport({ rows: n(1_000_000) }));
  if (want('projection')) await section('projection', () => benchProjection({ events: n(1_000_000), customers: n(100_000) }));
  const sections = READ_MODEL_SECTIONS.filter(want);
  // BENCH_SHARE=0: the queries only, without the rebuilds that give each read model's share (hours at full size on a busy machine)
  const shareOfRebuild = process.env.BENCH_SHARE !== '0';
  if (sections.length > 0)
    await section(sections.join(','), () => benchReadModels({ events: n(1_000_000), customers: n(100_000), sections, shareOfRebuild }));
  // 1,000 events per customer whatever the scale: the figure is per customer of that size
  if (want('as-of')) await section('as-of', () => benchAsOf({ events: n(100_000), eventsPerCustomer: 1000 }));
  if (want('log')) await section('log', () => benchLog({ events: n(200_000) }));
  if (want('rebuild')) {
    // BENCH_REBUILD_EVENTS: the log's size for this section alone (the brief's 1,000,000 takes longer than the rest of a run)
    const events = Number(process.env.BENCH_REBUILD_EVENTS ?? n(1_000_000));
    const via = process.env.BENCH_REBUILD_VIA === 'api' ? 'api' : 'cli';
    await section('rebuild', () =>
      benchRebuild({ events, customers: Math.max(1000, Math.round(events / 10)), ingestPerSecond: 1_000, via }),
    );
  }
  if (want('privacy')) await section('privacy', () => benchPrivacy({ events: n(100_000), batchSize: 1000, eventsPerCustomer: 10 }));
  if (want('esdb')) await section('esdb', () => benchEsdbIngest({ events: n(20_000), batchSize: 1000 }));
  if (want('kafka')) {
    if (!process.env.KAFKA_BROKERS) console.log('\n# kafka: skipped, KAFKA_BROKERS is not set (start one with infra/kafka/start.sh)');
    else await section('kafka', () => benchKafkaIngest({ events: n(100_000), record: (row) => record(row) }));
  }
  record({
    group: 'run',
    name: 'load average (1 / 5 / 15 min) at start and end',
    value: os.cpus().length,
    unit: 'cores',
    note: `start ${loadAtStart}; end ${loadAverage()}; ${((performance.now() - runStarted) / 60_000).toFixed(1)} min in all`,
  });
  printTable();
  console.log(`peak RSS of the bench process: ${peakRssMb().toFixed(0)} MB`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
