import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '@cem/config';
import { IngestConflictError, IngestValidationError } from '@cem/ingestion';
import { openPlatform, type Platform } from '@cem/platform';
import { DEFAULT_ANCHOR, DEFAULT_SEED, SeedGenerator, type SeedManifest } from './generator';
import { httpSink, ingestionSink, load, ndjsonSink, type LoadProgress, type Sink } from './loader';

/**
 * `npm run seed -- --customers N [--seed S] [--url http://host:port --api-key K] [--out file.ndjson]`
 *
 * Without --url and --out it opens the embedded platform in DATA_DIR and loads through
 * IngestionService.ingest, the validated path the HTTP API uses.
 */

const int = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};
const real = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`);
  return n;
};

interface CliOptions {
  customers: number;
  seed: string;
  now: string;
  months: number;
  intensity: number;
  churnRate: number;
  lateRate: number;
  duplicateRate: number;
  firstCustomer: number;
  batchSize: number;
  url?: string;
  apiKey?: string;
  concurrency: number;
  out?: string;
  manifest?: string;
  quiet?: boolean;
}

const program = new Command()
  .name('seed')
  .description('Generate deterministic multi-channel customer histories and load them (embedded platform, HTTP API or an NDJSON file).')
  .requiredOption('--customers <n>', 'how many customers to generate', int('--customers', 0, 10_000_000))
  .option('--seed <s>', 'PRNG seed: the same seed gives the same events', DEFAULT_SEED)
  .option('--now <iso>', 'anchor instant: every event happens before it (not the wall clock)', DEFAULT_ANCHOR)
  .option('--months <m>', 'months of history before the anchor', int('--months', 12, 240), 24)
  .option('--intensity <x>', 'rate of routine touch points (1: about 10 events per customer)', real('--intensity', 0, 100), 1)
  .option('--churn-rate <r>', 'share of customers who churn', real('--churn-rate', 0, 0.5), 0.15)
  .option('--late-rate <r>', 'share of events that arrive months late', real('--late-rate', 0, 1), 0.01)
  .option('--duplicate-rate <r>', 'share of events sent twice (retries)', real('--duplicate-rate', 0, 1), 0.002)
  .option(
    '--first-customer <i>',
    'index of the first customer (disjoint populations with one seed)',
    int('--first-customer', 0, 1_000_000_000),
    0,
  )
  .option('--batch-size <n>', 'events per batch', int('--batch-size', 1, 1000), 1000)
  .option('--url <url>', 'POST batches to this API (e.g. http://127.0.0.1:3000) instead of the embedded platform')
  .option('--api-key <key>', 'ingest API key for --url (default: the SEED_API_KEY environment variable)')
  .option('--concurrency <n>', 'batches in flight with --url', int('--concurrency', 1, 64), 1)
  .option('--out <file>', 'write the envelopes as NDJSON to this file instead of loading them')
  .option('--manifest <file>', 'write the ground-truth manifest (every customer, identifiers, expected counts) as JSON')
  .option('--quiet', 'no progress lines')
  .showHelpAfterError();

async function main(): Promise<void> {
  const o = program.parse(process.argv).opts<CliOptions>();
  if (o.url && o.out) throw new Error('--url and --out exclude each other');
  const anchor = Date.parse(o.now);
  if (Number.isNaN(anchor)) throw new Error(`--now: not a date-time: ${o.now}`);

  const gen = new SeedGenerator({
    customers: o.customers,
    seed: o.seed,
    now: o.now,
    months: o.months,
    intensity: o.intensity,
    churnRate: o.churnRate,
    lateRate: o.lateRate,
    duplicateRate: o.duplicateRate,
    firstCustomer: o.firstCustomer,
    manifest: o.manifest ? 'people' : 'totals',
  });

  let platform: Platform | undefined;
  let sink: Sink;
  if (o.out) sink = ndjsonSink(o.out);
  else if (o.url) {
    const apiKey = o.apiKey ?? process.env.SEED_API_KEY;
    if (!apiKey) throw new Error('--url needs --api-key (or SEED_API_KEY) with the ingest role');
    sink = httpSink({ url: o.url, apiKey });
  } else {
    const config = loadConfig();
    const skew = config.MAX_FUTURE_SKEW_SECONDS * 1000;
    if (anchor > Date.now() + skew)
      throw new Error(`--now ${o.now} is in the future of this machine's clock: the platform would refuse the latest events`);
    platform = openPlatform(config);
    sink = ingestionSink(platform.ingestion);
  }

  const log = (line: string) => {
    if (!o.quiet) console.log(line);
  };
  log(
    `seed "${o.seed}": ${o.customers.toLocaleString('en')} customers, ${o.months} months before ${gen.anchor} -> ${sink.name}${platform ? ` (DATA_DIR=${platform.config.DATA_DIR})` : ''}`,
  );
  let progress: LoadProgress;
  try {
    progress = await load(gen, sink, {
      batchSize: o.batchSize,
      concurrency: o.url ? o.concurrency : 1,
      onProgress: (p, final) => {
        if (!final)
          log(
            `  ${p.envelopes.toLocaleString('en')} events in ${(p.elapsedMs / 1000).toFixed(1)} s (${p.rate.toLocaleString('en')} events/s)`,
          );
      },
    });
  } finally {
    await sink.close();
    await platform?.close();
  }

  const m = gen.manifest();
  if (o.manifest) writeFileSync(o.manifest, JSON.stringify(m));
  console.log(summary(m, progress, o));
}

function summary(m: SeedManifest, p: LoadProgress, o: CliOptions): string {
  const n = (x: number) => x.toLocaleString('en');
  const lines = [
    `done: ${n(p.envelopes)} envelopes in ${(p.elapsedMs / 1000).toFixed(1)} s = ${n(p.rate)} events/s (${n(p.batches)} batches)`,
    `  customers ${n(m.customers)}: ${Object.entries(m.byLifecycle)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ')}`,
    `  distinct events ${n(m.events)}, retries sent ${n(m.duplicates)}${o.out ? '' : ` (acknowledged as duplicates: ${n(p.duplicatesAcknowledged)})`}, months-late arrivals ${n(m.late)}`,
    `  identity: ${n(m.registrations)} registrations expected, ${n(m.mergeEvents)} merging events, ${n(m.customers)} people in the end`,
    `  history ${m.from} .. ${m.anchor}`,
  ];
  if (o.manifest) lines.push(`  manifest written to ${o.manifest}`);
  if (o.out) lines.push(`  envelopes written to ${o.out}`);
  return lines.join('\n');
}

main().catch((e: unknown) => {
  if (e instanceof IngestValidationError || e instanceof IngestConflictError) {
    console.error(`the platform refused a batch: ${e.message}`);
    for (const err of e.errors.slice(0, 10)) console.error(`  [${err.index}] ${err.eventId ?? ''} ${err.field}: ${err.reason}`);
  } else console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
