import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { startDoubleProcess } from '../support/esdb-double/separate-process';
import { makeEnvelopes } from './ingest.bench';
import { progress, record } from './report';

export interface EsdbBenchOptions {
  events: number;
  batchSize: number;
}

/** Events per customer in the generated envelopes (as in the ingest bench). */
const EVENTS_PER_CUSTOMER = 10;

/** Feeds every batch through the platform's ingestion service (validation, identity, append); events/s. */
async function ingestAll(label: string, platform: Platform, envelopes: Record<string, unknown>[], batchSize: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < envelopes.length; i += batchSize) {
    const batch = envelopes.slice(i, i + batchSize);
    const results = await platform.ingestion.ingest(batch);
    if (results.length !== batch.length || results.some((r) => r.duplicate)) throw new Error(`${label}: unexpected ingest results`);
    progress(label, Math.min(i + batchSize, envelopes.length), envelopes.length, t0);
  }
  return envelopes.length / ((performance.now() - t0) / 1000);
}

/**
 * Ingest through the EventStoreDB adapter (store and identity registry on EventStoreDB, selected
 * by EVENT_STORE=esdb) against the gRPC double running in its own process, next to the embedded SQLite
 * platform on the very same envelopes in the same run. Both go through `IngestionService.ingest`, so
 * the figures include validation and identity resolution. The client appends through BatchAppend (the
 * double announces it, as servers from 21.10 do) with the double's 1 MiB MaxAppendSize on. The double
 * keeps its log in memory, so the EventStoreDB figure is the adapter's and the client's cost over
 * loopback gRPC plus the double's own work, not a server's disk. Also reported: gRPC calls opened and
 * write requests (one per append, many per BatchAppend call) per 1,000 events.
 */
export async function benchEsdbIngest(options: EsdbBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-esdb-'));
  const envelopes = makeEnvelopes(options.events, EVENTS_PER_CUSTOMER);
  // a clock just after the last occurredAt: the same validation verdicts on every run
  const last = Math.max(...envelopes.map((e) => Date.parse(e.occurredAt as string)));
  const now = () => last + 60_000;
  console.log(
    `\n# esdb ingest: ${options.events.toLocaleString('en-US')} events, batches of ${options.batchSize}, ${EVENTS_PER_CUSTOMER} events per customer`,
  );
  try {
    const embedded = openPlatform(loadConfig({ DATA_DIR: join(dir, 'embedded'), SQLITE_SYNCHRONOUS: 'FULL', LOG_LEVEL: 'silent' }), {
      now,
    });
    let sqliteRate: number;
    try {
      sqliteRate = await ingestAll('embedded ingest', embedded, envelopes, options.batchSize);
    } finally {
      await embedded.close();
    }
    record({
      group: 'esdb',
      name: 'embedded SQLite platform, IngestionService.ingest',
      value: sqliteRate,
      unit: 'events/s',
      note: 'same envelopes, same run',
    });

    const server = await startDoubleProcess();
    let esdbRate: number;
    let counts: Awaited<ReturnType<typeof server.stats>>;
    try {
      const config = loadConfig({
        DATA_DIR: join(dir, 'esdb'),
        EVENT_STORE: 'esdb',
        ESDB_CONNECTION_STRING: server.connectionString,
        LOG_LEVEL: 'silent',
      });
      const platform = openPlatform(config, { now });
      try {
        // as the API at boot: the identity registry follows its streams, caught up, before the first batch
        await platform.readyToIngest();
        esdbRate = await ingestAll('esdb ingest', platform, envelopes, options.batchSize);
      } finally {
        await platform.close();
      }
      counts = await server.stats();
    } finally {
      await server.stop();
    }
    if (counts.stats.batchAppendCalls === 0 || counts.stats.appendCalls > 0)
      throw new Error('esdb bench: the client did not append through BatchAppend');
    const per1000 = (n: number) => (n * 1000) / options.events;
    record({
      group: 'esdb',
      name: 'EventStoreDB adapter, double in its own process (BatchAppend), IngestionService.ingest',
      value: esdbRate,
      unit: 'events/s',
      note: `largest append ${counts.stats.largestAppendBytes.toLocaleString('en-US')} bytes`,
    });
    record({
      group: 'esdb',
      name: 'gRPC calls opened per 1,000 events (EventStoreDB adapter)',
      value: per1000(counts.calls),
      unit: 'calls',
      note: `${counts.stats.batchAppendCalls} BatchAppend, ${counts.stats.reads.toLocaleString('en-US')} reads in all: ${byKind(counts.stats.readsByStreamKind, per1000)}`,
    });
    record({
      group: 'esdb',
      name: 'append requests per 1,000 events (EventStoreDB adapter)',
      value: per1000(counts.stats.appends),
      unit: 'appends',
      note: `carried by the BatchAppend calls: ${byKind(counts.stats.appendsByStreamKind, per1000)}`,
    });
    record({
      group: 'esdb',
      name: 'ratio embedded / EventStoreDB adapter',
      value: sqliteRate / esdbRate,
      unit: 'x',
      note: 'embedded is this many times faster',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "customer 100, cem-internal-eventid 1,000" per 1,000 events, largest first */
function byKind(counts: Record<string, number> | undefined, per1000: (n: number) => number): string {
  return Object.entries(counts ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${Math.round(per1000(n)).toLocaleString('en-US')}`)
    .join(', ');
}
