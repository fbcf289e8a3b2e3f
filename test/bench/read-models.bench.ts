import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { customerStreamId, decideSegment, decideSetTarget, deterministicUuid, segmentStreamId, targetStreamId } from '@cem/domain';
import { SqliteEventStore } from '@cem/event-store';
import { openSqliteReadStore, READ_MODELS, startProjector, SystemEventScheduler, type ReadModel } from '@cem/read-models';
import { churnRescoringJob, churnRisk, type ChurnRiskQueries } from '@cem/read-models/churn-risk';
import { experienceMetrics, metricSeriesSource, type ExperienceMetricsQueries } from '@cem/read-models/experience-metrics';
import { milestoneEventsJob, milestones, type MilestonesQueries } from '@cem/read-models/milestones';
import { compileSegmentRule, segments, segmentsJob, SegmentsQueries } from '@cem/read-models/segments';
import { reportTarget, targets, type TargetsQueries } from '@cem/read-models/targets';
import { writeLog } from './projection.bench';
import { fmt, progress, record } from './report';

/** The sections of this bench (BENCH_ONLY names): each read model's rebuild cost and its queries. */
export const READ_MODEL_SECTIONS = ['metrics', 'churn', 'milestones', 'targets', 'segments'] as const;
export type ReadModelSection = (typeof READ_MODEL_SECTIONS)[number];

export interface ReadModelsBenchOptions {
  events: number;
  customers: number;
  sections: readonly ReadModelSection[];
  /** queries per latency measurement */
  queries?: number;
  /** programme targets in the log */
  targets?: number;
  /** false: no rebuild of every read model nor of each alone (no share figures), only what the queries read */
  shareOfRebuild?: boolean;
}

const MODEL_OF: Record<ReadModelSection, ReadModel> = {
  metrics: experienceMetrics,
  churn: churnRisk,
  milestones,
  targets,
  segments,
};
const GROUP: Record<ReadModelSection, string> = {
  metrics: 'experience metrics',
  churn: 'churn risk',
  milestones: 'milestones',
  targets: 'targets',
  segments: 'segments',
};

/** the log's events happen from 2025-01-01 over 500 days; queries are asked as of just after */
const AS_OF = Date.parse('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** a latency measurement stops after this long (at least 10 runs): a slow query must not take the bench's hour */
const BUDGET_MS = 30_000;

/** p50 and p99 of `ask` over `n` runs (fewer if it runs out of BUDGET_MS) after a warm-up, recorded as two rows. */
async function latency(group: string, name: string, n: number, ask: (i: number) => Promise<unknown>, note?: string): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < Math.min(20, n) && performance.now() - started < BUDGET_MS / 10; i++) await ask(i); // warm-up
  const times: number[] = [];
  const measuring = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await ask(i);
    times.push(performance.now() - t0);
    const elapsed = performance.now() - measuring;
    // progress only for slow queries, a few lines per measurement
    if (elapsed > 2000 && (i + 1) % Math.ceil(n / 5) === 0) progress(`  ${name}`, i + 1, n, measuring);
    if (elapsed > BUDGET_MS && times.length >= 10) break;
  }
  times.sort((a, b) => a - b);
  const runs = times.length < n ? `${times.length} runs (time budget)` : undefined;
  record({ group, name: `${name}: p50`, value: percentile(times, 50), unit: 'ms', note: runs });
  record({ group, name: `same: p99`, value: percentile(times, 99), unit: 'ms', note });
}

/**
 * One log for the read models of issues 12 and 13: CPU per event of a rebuild of every read model,
 * then of each asked-for read model alone (its share of the full rebuild), then each one's queries
 * and scheduled jobs, in process on the full rebuild's store (as the API reads it).
 */
export async function benchReadModels(options: ReadModelsBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-models-'));
  try {
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    console.log(
      `read models (${options.sections.join(', ')}): writing ${options.events.toLocaleString('en-US')} events over ${options.customers.toLocaleString('en-US')} customers`,
    );
    // channels in turn, so a series by channel has every channel's rows to read
    writeLog(store, options.events, options.customers, ['phone', 'chat', 'email', 'web', 'app', 'store', 'social', 'sms']);
    await writeTargets(store, options.targets ?? 20);
    if (options.sections.includes('segments')) await writeSegment(store);
    const head = await store.headPosition();

    const rebuild = async (file: string, readModels: readonly ReadModel[], label: string) => {
      const readStore = await openSqliteReadStore(join(dir, file), { readModels });
      global.gc?.();
      const started = performance.now();
      const cpu = process.cpuUsage();
      const running = await startProjector({
        store,
        db: readStore.db,
        readModels,
        onBatch: (b) => progress(`rebuilding ${label}`, b.position, head, started),
      });
      await running.projector.whenCaughtUp(head, 6 * 3_600_000);
      const used = process.cpuUsage(cpu);
      const seconds = (performance.now() - started) / 1000;
      await running.close();
      return { readStore, readModels, cpuUs: (used.user + used.system) / head, eventsPerSecond: head / seconds };
    };

    let all: Awaited<ReturnType<typeof rebuild>>;
    if (options.shareOfRebuild === false) {
      // the queries only: the read models they read (milestones read the 360's segment, targets the metrics)
      const needed = READ_MODELS.filter(
        (m) =>
          options.sections.some((s) => MODEL_OF[s] === m) ||
          (m.name === 'customer-360' && options.sections.includes('milestones')) ||
          (m === experienceMetrics && options.sections.includes('targets')),
      );
      all = await rebuild('queried.db', needed, needed.map((m) => m.name).join(', '));
      record({
        group: 'read models',
        name: `rebuild of ${needed.map((m) => m.name).join(', ')} (${head.toLocaleString('en-US')} events): CPU per event`,
        value: all.cpuUs,
        unit: 'us',
        note: `${Math.round(all.eventsPerSecond).toLocaleString('en-US')} events/s wall; BENCH_SHARE=0: no full rebuild`,
      });
    } else {
      all = await rebuild('all.db', READ_MODELS, 'every read model');
      record({
        group: 'read models',
        name: `rebuild of every read model (${READ_MODELS.map((m) => m.name).join(', ')}; ${head.toLocaleString('en-US')} events): CPU per event`,
        value: all.cpuUs,
        unit: 'us',
        note: `${Math.round(all.eventsPerSecond).toLocaleString('en-US')} events/s wall`,
      });
      for (const section of options.sections) {
        const alone = await rebuild(`${section}.db`, [MODEL_OF[section]], `the ${MODEL_OF[section].name} read model alone`);
        await alone.readStore.close();
        record({
          group: GROUP[section],
          name: `rebuild of the ${MODEL_OF[section].name} read model alone: CPU per event`,
          value: alone.cpuUs,
          unit: 'us',
          note: `share of the full rebuild ${((100 * alone.cpuUs) / all.cpuUs).toFixed(0)}%; ${Math.round(alone.eventsPerSecond).toLocaleString('en-US')} events/s wall`,
        });
      }
    }
    const db = all.readStore.db as Kysely<any>;
    const now = () => AS_OF;
    const n = options.queries ?? 200;
    if (options.sections.includes('metrics')) await metricsQueries(experienceMetrics.queries(db, { now }) as ExperienceMetricsQueries, n);
    const catchUp = async () => {
      const running = await startProjector({ store, db: all.readStore.db, readModels: all.readModels });
      await running.projector.whenCaughtUp(await store.headPosition(), 3_600_000);
      await running.close();
    };
    if (options.sections.includes('churn'))
      await churnQueries(store, churnRisk.queries(db, { now }) as ChurnRiskQueries, n, options.customers, catchUp);
    if (options.sections.includes('milestones')) await milestoneQueries(store, milestones.queries(db, { now }) as MilestonesQueries, n);
    if (options.sections.includes('targets'))
      await targetQueries(
        targets.queries(db, { now }) as TargetsQueries,
        experienceMetrics.queries(db, { now }) as ExperienceMetricsQueries,
        n,
      );
    if (options.sections.includes('segments')) await segmentQueries(segments.queries(db, { now }) as SegmentsQueries, options.customers);
    await all.readStore.close();
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rule of the bench's segment: facts, a set, an ordered enum and a windowed count. */
const BENCH_RULE = {
  any: [
    {
      all: [
        { fact: 'channels', op: 'includes', value: 'phone' },
        { fact: 'nps', op: '<=', value: 6 },
      ],
    },
    { fact: 'valueSegment', op: '>=', value: 'high' },
    { count: 'contact.handled', within: 'P90D', op: '>=', value: 3 },
  ],
};

/** One segment as the API creates it, before the rebuild: the evaluation then finds every member new. */
async function writeSegment(store: SqliteEventStore): Promise<void> {
  const events = decideSegment(
    {
      kind: 'create',
      segmentId: 'bench-segment',
      changedBy: 'bench',
      occurredAt: '2025-01-01T00:00:00Z',
      segment: { name: 'bench segment', description: '', rule: BENCH_RULE, consentPurpose: 'marketing-email' },
    },
    { version: 0, revision: -1, archived: false },
  );
  await store.appendToStream(
    segmentStreamId('bench-segment'),
    events.map((e) => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: { ...e.metadata } })),
    { expectedRevision: 'no_stream' },
  );
}

/** A new segment evaluated over every customer (the scheduled job's evaluate, appends aside), and the dry run's latency. */
async function segmentQueries(queries: SegmentsQueries, customers: number): Promise<void> {
  const job = segmentsJob({ queries, whenCaughtUp: async () => true });
  const seconds: number[] = [];
  let due = 0;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    due = (await job.evaluate(AS_OF)).length;
    seconds.push((performance.now() - started) / 1000);
  }
  const s = median(seconds);
  record({
    group: 'segments',
    name: `evaluate a new segment over every customer (${customers.toLocaleString('en-US')} customers; median of 3)`,
    value: s,
    unit: 's',
    note: `${fmt(customers / s)} customers/s; ${due.toLocaleString('en-US')} entries due; runs ${seconds.map((x) => x.toFixed(2)).join(', ')} s`,
  });
  const check = compileSegmentRule(BENCH_RULE, { consentPurposes: new Set(['marketing-email']) });
  if (!check.ok) throw new Error('the bench rule is refused');
  await latency('segments', `dry run of a rule over every customer (${customers.toLocaleString('en-US')} customers)`, 20, () =>
    queries.dryRun(check.evaluate, 'marketing-email', AS_OF),
  );
}

/** Programme targets as the API creates them (the write side's decision, appended to the target's stream). */
async function writeTargets(store: SqliteEventStore, count: number): Promise<void> {
  const metrics = ['nps', 'csat', 'handle-time', 'first-contact-resolution', 'complaints'];
  const channels = ['phone', 'chat', 'email', 'web'];
  for (let i = 0; i < count; i++) {
    const targetId = `bench-target-${i}`;
    const events = decideSetTarget(
      {
        kind: 'create',
        targetId,
        changedBy: 'bench',
        occurredAt: '2025-01-01T00:00:00Z',
        target: {
          name: `bench target ${i}`,
          metric: metrics[i % metrics.length],
          slice: i % 2 === 0 ? null : { dimension: 'channel', value: channels[i % channels.length] },
          direction: 'at-least',
          threshold: 10,
          bucket: i % 3 === 0 ? 'week' : 'month',
          startDate: '2025-01-01',
          dueDate: '2026-12-31',
        },
      },
      { version: 0, revision: -1 },
    );
    await store.appendToStream(
      targetStreamId(targetId),
      events.map((e) => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: { ...e.metadata } })),
      { expectedRevision: 'no_stream' },
    );
  }
}

async function metricsQueries(queries: ExperienceMetricsQueries, n: number): Promise<void> {
  for (const metric of ['nps', 'handle-time'] as const) {
    const ask = () => queries.seriesOf({ metric, bucket: 'day', from: '2025-01-01', to: '2026-01-01', sliceBy: 'channel' });
    const sample = await ask();
    const points = sample.series.reduce((s, l) => s + l.points.length, 0);
    await latency(
      'experience metrics',
      `one-year daily ${metric} series by channel (${sample.series.length} channels, ${points} points)`,
      n,
      ask,
      'target < 50',
    );
  }
}

async function churnQueries(
  store: SqliteEventStore,
  queries: ChurnRiskQueries,
  n: number,
  customerCount: number,
  catchUp: () => Promise<void>,
): Promise<void> {
  // cold: a new instant each time, so no cached scoring answers (the cache is keyed by instant, model and position)
  const seconds: number[] = [];
  let customers = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    console.log(`  churn risk: scoring every customer, cold (${i + 1} of 3)`);
    customers = (await queries.scoreAll(AS_OF - (i + 1) * HOUR)).customers.length;
    seconds.push((performance.now() - t0) / 1000);
  }
  const cold = median(seconds);
  record({
    group: 'churn risk',
    name: `score every customer as of an instant, cold (${customers.toLocaleString('en-US')} customers; median of 3)`,
    value: cold,
    unit: 's',
    note: `${fmt(customers / cold)} customers/s; runs ${seconds.map((s) => s.toFixed(2)).join(', ')} s`,
  });
  await latency('churn risk', 'same, warm (cached scoring of that instant)', n, () => queries.scoreAll(AS_OF - HOUR));
  await queries.scoreAll(AS_OF); // the instant the lists below are asked at
  await latency(
    'churn risk',
    `list at risk (high + critical, by score, 50 a page; ${customers.toLocaleString('en-US')} customers)`,
    n,
    () => queries.atRisk({ bands: ['high', 'critical'], sort: 'score', limit: 50 }, AS_OF),
  );
  const first = await queries.atRisk({ sort: 'valueAtRisk', limit: 50 }, AS_OF);
  await latency(
    'churn risk',
    'list at risk by value at risk, second page (cursor)',
    n,
    () => queries.atRisk({ sort: 'valueAtRisk', limit: 50, cursor: first.nextCursor }),
    'target: reasonable (none set)',
  );
  await latency('churn risk', 'distribution of scores (histogram per band)', n, () => queries.distribution(AS_OF));
  // new events for 1% of the customers, projected; then the same instant again: only those are re-scored
  const changed = Math.max(10, Math.round(customerCount / 100));
  for (let i = 0; i < changed; i++) {
    const id = deterministicUuid('bench-customer', String((i * 7919) % customerCount)); // writeLog's customer ids
    await store.appendToStream(customerStreamId(id), [
      {
        eventId: deterministicUuid('bench-churn-change', String(i)),
        type: 'complaint.filed',
        data: { category: 'billing' },
        metadata: {
          schemaVersion: 1,
          occurredAt: new Date(AS_OF - 2 * HOUR).toISOString(),
          customerId: id,
          source: 'bench',
          channel: 'email',
        },
      },
    ]);
  }
  await catchUp();
  const t1 = performance.now();
  await queries.scoreAll(AS_OF);
  record({
    group: 'churn risk',
    name: `score every customer again at that instant after ${changed.toLocaleString('en-US')} customers changed (kept scoring brought up to date)`,
    value: performance.now() - t1,
    unit: 'ms',
    note: `vs ${fmt(cold * 1000)} ms cold`,
  });
  await latency('churn risk', 'list at risk (high + critical, by score) after that change', n, () =>
    queries.atRisk({ bands: ['high', 'critical'], sort: 'score', limit: 50 }, AS_OF),
  );
  const scheduler = new SystemEventScheduler({ store, jobs: [churnRescoringJob(queries, async () => true, HOUR)] });
  const t0 = performance.now();
  const run = await scheduler.runNow('churn-risk-bands', AS_OF + 24 * HOUR);
  record({
    group: 'churn risk',
    name: 'scheduled re-scoring run (scores everyone, appends churn-risk.changed for each band change)',
    value: (performance.now() - t0) / 1000,
    unit: 's',
    note: `${run.appended.toLocaleString('en-US')} appended, ${run.deferred.toLocaleString('en-US')} deferred to the next run`,
  });
}

async function milestoneQueries(store: SqliteEventStore, queries: MilestonesQueries, n: number): Promise<void> {
  await latency('milestones', 'funnel, every customer', n, () => queries.funnel({}, AS_OF));
  await latency('milestones', 'funnel by cohort (month of first touch)', n, () => queries.funnel({ groupBy: 'cohort' }, AS_OF));
  await latency('milestones', 'time to milestone (p50 / p90) by cohort', n, () => queries.timeToMilestone({ groupBy: 'cohort' }));
  const scheduler = new SystemEventScheduler({
    store,
    jobs: [milestoneEventsJob({ queries, whenCaughtUp: async () => true, intervalMs: HOUR })],
  });
  const t0 = performance.now();
  const run = await scheduler.runNow('milestones', AS_OF);
  record({
    group: 'milestones',
    name: 'scheduler run (milestone.reached / missed due at the instant, appended)',
    value: (performance.now() - t0) / 1000,
    unit: 's',
    note: `${run.due.toLocaleString('en-US')} due, ${run.appended.toLocaleString('en-US')} appended (at most 5,000 a run), ${run.deferred.toLocaleString('en-US')} deferred`,
  });
}

async function targetQueries(queries: TargetsQueries, metrics: ExperienceMetricsQueries, n: number): Promise<void> {
  const source = metricSeriesSource(metrics);
  const views = await queries.list();
  await latency('targets', `status and history of every target (${views.length} targets over their metric series)`, n, async () => {
    for (const view of await queries.list()) await reportTarget(view, source, AS_OF);
  });
}
