import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { EsdbDouble } from '../support/esdb-double';
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
 * by EVENT_STORE=esdb) against the in-process gRPC double, next to the embedded SQLite platform on
 * the very same envelopes in the same run. Both go through `IngestionService.ingest`, so the figures
 * include validation and identity resolution; the double keeps its log in memory, so the EventStoreDB
 * figure is the adapter's and the client's cost over loopback gRPC, not a server's disk.
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

    const server = new EsdbDouble();
    const connectionString = await server.start();
    let esdbRate: number;
    try {
      const config = loadConfig({
        DATA_DIR: join(dir, 'esdb'),
        EVENT_STORE: 'esdb',
        ESDB_CONNECTION_STRING: connectionString,
        LOG_LEVEL: 'silent',
      });
      const platform = openPlatform(config, { now });
      try {
        esdbRate = await ingestAll('esdb ingest', platform, envelopes, options.batchSize);
      } finally {
        await platform.close();
      }
    } finally {
      server.stop();
    }
    record({
      group: 'esdb',
      name: 'EventStoreDB adapter on the in-process gRPC double, IngestionService.ingest',
      value: esdbRate,
      unit: 'events/s',
      note: `${server.stats.appends.toLocaleString('en-US')} appends, ${server.stats.reads.toLocaleString('en-US')} reads`,
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
