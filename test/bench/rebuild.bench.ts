import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { SqliteEventStore } from '@cem/event-store';
import { openPlatform } from '@cem/platform';
import { dropRebuild, openReadStore, READ_MODELS, runRebuild, startProjector } from '@cem/read-models';
import { makeEnvelopes } from './ingest.bench';
import { writeLog } from './projection.bench';
import { progress, record } from './report';

/**
 * The blue/green rebuild (`cem rebuild all`, docs/operations.md) of the embedded read store: a log
 * written straight into the store, the live copy projected, then the whole rebuild (shadow from 0,
 * catch-up, verify against a scratch rebuild, switch) timed while the projector keeps projecting the
 * live copy and ingestion appends through the IngestionService at `ingestPerSecond`.
 */
export async function benchRebuild(options: { events: number; customers: number; ingestPerSecond: number }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-rebuild-'));
  const platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }));
  try {
    console.log(
      `\n# rebuild: ${options.events.toLocaleString('en-US')} events, ${options.customers.toLocaleString('en-US')} customers, ` +
        `blue/green rebuild of all read models with ingestion at ${options.ingestPerSecond} events/s`,
    );
    writeLog(platform.store as SqliteEventStore, options.events, options.customers);
    const location = { kind: 'sqlite' as const, dataDir: dir };
    const live = await openReadStore(location, { role: 'writer' });
    const projector = await startProjector({ store: platform.store, db: live.db, readStore: live, dataDir: dir });
    const t0 = performance.now();
    await projector.projector.whenCaughtUpToHead(24 * 3_600_000);
    progress('live copy', 1, 1, t0);
    const head = await platform.store.headPosition();

    // ingestion meanwhile: a batch every 100 ms
    // ten minutes of ingestion at most (the envelopes are made up front)
    const envelopes = makeEnvelopes(options.ingestPerSecond * 600, 10);
    let ingested = 0;
    let stop = false;
    const perTick = Math.max(1, Math.round(options.ingestPerSecond / 10));
    const ingesting = (async () => {
      while (!stop && ingested < envelopes.length) {
        const tick = performance.now();
        await platform.ingestion.ingest(envelopes.slice(ingested, ingested + perTick) as never);
        ingested += perTick;
        const wait = 100 - (performance.now() - tick);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
    const live2 = await openReadStore(location, { role: 'reader' });
    const t1 = performance.now();
    let rebuilt;
    try {
      rebuilt = await runRebuild(
        {
          store: platform.store,
          location,
          live: live2,
          dataDir: dir,
          onProgress: (r) => progress('rebuild', r.position, r.targetPosition, t1),
        },
        READ_MODELS,
      );
    } finally {
      stop = true;
      await ingesting;
    }
    const secs = (performance.now() - t1) / 1000;
    record({
      group: 'rebuild',
      name: `blue/green rebuild of all ${READ_MODELS.length} read models (${head.toLocaleString('en-US')} log events), ingestion running`,
      value: secs,
      unit: 's',
      note: `projecting, catching up, verifying (a second, scratch rebuild) and switching; ${ingested.toLocaleString('en-US')} events ingested meanwhile (${(ingested / secs).toFixed(0)}/s)`,
    });
    record({
      group: 'rebuild',
      name: 'rebuild: log events per second of the whole blue/green rebuild',
      value: head / secs,
      unit: 'events/s',
    });
    record({
      group: 'rebuild',
      name: 'rebuild: shadow projection, events/s summed over the read models (before the verify)',
      value: rebuilt.eventsPerSecond,
      unit: 'events/s',
    });
    await dropRebuild({ store: platform.store, location, live: live2, dataDir: dir }, rebuilt.id);
    await live2.close();
    await projector.close();
    await live.close();
  } finally {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
