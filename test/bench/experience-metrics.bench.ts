import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { SqliteEventStore } from '@cem/event-store';
import { openSqliteReadStore, READ_MODELS, startProjector, type ReadModel } from '@cem/read-models';
import { experienceMetrics, type ExperienceMetricsQueries } from '@cem/read-models/experience-metrics';
import { writeLog } from './projection.bench';
import { progress, record } from './report';

export interface MetricsBenchOptions {
  events: number;
  customers: number;
  /** series queries per measurement */
  queries?: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * The experience metrics: CPU per event of a rebuild of that read model alone and of every read
 * model (its share of the full rebuild), then one-year daily series sliced by channel (p50 / p99 of
 * the query, in process, over the read connection).
 */
export async function benchExperienceMetrics(options: MetricsBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-em-'));
  try {
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    console.log(
      `experience metrics: writing ${options.events.toLocaleString('en-US')} events over ${options.customers.toLocaleString('en-US')} customers`,
    );
    // channels in turn, so a series by channel has every channel's rows to read
    writeLog(store, options.events, options.customers, ['phone', 'chat', 'email', 'web', 'app', 'store', 'social', 'sms']);
    const head = await store.headPosition();
    const rebuild = async (file: string, readModels: readonly ReadModel[], label: string) => {
      const readStore = await openSqliteReadStore(join(dir, file), { readModels });
      const started = performance.now();
      const cpu = process.cpuUsage();
      const running = await startProjector({
        store,
        db: readStore.db,
        readModels,
        onBatch: (b) => progress(`rebuilding ${label}`, b.position, head, started),
      });
      await running.projector.whenCaughtUp(head, 3_600_000);
      const used = process.cpuUsage(cpu);
      const seconds = (performance.now() - started) / 1000;
      await running.close();
      return { readStore, cpuUs: (used.user + used.system) / head, eventsPerSecond: head / seconds };
    };
    const alone = await rebuild('metrics.db', [experienceMetrics], 'the experience metrics alone');
    const all = await rebuild('all.db', READ_MODELS, 'every read model');
    await all.readStore.close();
    record({
      group: 'experience metrics',
      name: `rebuild of the metrics read model alone (${head.toLocaleString('en-US')} events): CPU per event`,
      value: alone.cpuUs,
      unit: 'us',
      note: `${Math.round(alone.eventsPerSecond).toLocaleString('en-US')} events/s wall`,
    });
    record({
      group: 'experience metrics',
      name: `rebuild of every read model (${READ_MODELS.map((m) => m.name).join(', ')}): CPU per event`,
      value: all.cpuUs,
      unit: 'us',
      note: `metrics' share ${((100 * alone.cpuUs) / all.cpuUs).toFixed(0)}%`,
    });

    const queries = experienceMetrics.queries(alone.readStore.db as Kysely<any>, { now: Date.now }) as ExperienceMetricsQueries;
    for (const metric of ['nps', 'handle-time'] as const) {
      const ask = () => queries.seriesOf({ metric, bucket: 'day', from: '2025-01-01', to: '2026-01-01', sliceBy: 'channel' });
      const sample = await ask();
      const points = sample.series.reduce((n, s) => n + s.points.length, 0);
      for (let i = 0; i < 20; i++) await ask(); // warm-up
      const times: number[] = [];
      for (let i = 0; i < (options.queries ?? 200); i++) {
        const t0 = performance.now();
        await ask();
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      record({
        group: 'experience metrics',
        name: `one-year daily ${metric} series by channel (${sample.series.length} channels, ${points} points): p50`,
        value: percentile(times, 50),
        unit: 'ms',
      });
      record({ group: 'experience metrics', name: `same: p99`, value: percentile(times, 99), unit: 'ms', note: 'target < 50' });
    }
    await alone.readStore.close();
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
