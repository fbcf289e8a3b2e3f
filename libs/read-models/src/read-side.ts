import type { LoggerService } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { EventStore } from '@cem/event-store';
import type { QueriesOf, ReadModel } from './kit/read-model';
import { readCheckpoint, readCheckpoints } from './projector/checkpoints';
import { identifierIndexOfStore, storedValuesOfStore } from './projector/projection';
import { REBUILD_NEEDED, type VersionChangePolicy } from './projector/projection-lane';
import { codeVersionsOf, startProjector, type RunningProjector } from './projector/projector.module';
import { READ_MODELS, type ReadModelName } from './read-models';
import { startScheduledJobs } from './scheduled-jobs';
import { SEGMENTS_JOB, SegmentEvaluations } from './segments/segments.job';
import type { SystemEventScheduler } from './scheduler/scheduled-system-events';
import { openReadStore, type ReadStoreLocation } from './store/open-read-store';
import type { ReadStore } from './store/read-store';

export interface ReadSideOptions {
  /** the data directory: the embedded read store is `<dataDir>/read-models.db` */
  dataDir: string;
  /** where the read models live (default: the embedded SQLite file in `dataDir`); see readStoreLocationOf */
  readStore?: ReadStoreLocation;
  store: EventStore;
  /**
   * `embedded` (default): this process runs the projector. `external`: another process
   * (apps/projector) does, and this one only reads; catching up is then seen through the stored
   * checkpoints.
   */
  projector?: 'embedded' | 'external';
  batchSize?: number;
  /**
   * READ_MODEL_VERSION_CHANGE: a read model whose stored copy another version of the code projected
   * is held, its old copy serving, until `cem rebuild` switches (`hold`, default), or emptied and
   * projected again in place (`rebuild-in-place`); see VersionChangePolicy
   */
  onVersionChange?: VersionChangePolicy;
  logger?: LoggerService;
  /** Prometheus registry for the projection metrics; a new one when absent */
  registry?: Registry;
  now?: () => number;
  /** the churn-risk settings (CHURN_RESCORING_INTERVAL_MINUTES, CHURN_BAND_THRESHOLDS); defaults: 15 minutes, 0.25,0.5,0.75 */
  churn?: ChurnSettings;
  /** how often the segments are evaluated as time passes (SEGMENTS_INTERVAL_SECONDS); default 1 minute */
  segmentsIntervalMs?: number;
}

export interface ChurnSettings {
  /** how often every customer is re-scored for band changes, where the projector runs */
  rescoringIntervalMs?: number;
  /** the prior model's band thresholds (a fitted model carries its own) */
  bandThresholds?: readonly [number, number, number];
}

export interface ProjectionLag {
  /** the read models asked about have handled the log up to here */
  checkpoint: number;
  head: number;
  /** events recorded but not yet projected */
  events: number;
  /** age of the oldest event not yet projected (0 when caught up) */
  seconds: number;
}

export interface ReadModelHealth {
  name: string;
  /** the lane's status (`live`, `catching-up`, `retrying`, `stopped`), `rebuild-needed`, or `external` */
  status: string;
  lag: ProjectionLag;
  /** set when the stored copy was projected by another version than this code's: it serves as it is until a rebuild switches */
  rebuildNeeded?: { liveVersion: number; codeVersion: number };
}

export interface ReadSideHealth {
  ready: boolean;
  projector: 'embedded' | 'external';
  status: string;
  /** over every read model (the slowest) */
  lag: ProjectionLag;
  readModels: ReadModelHealth[];
  /** the read models whose stored copy another version projected (`cem rebuild` them) */
  rebuildNeeded: string[];
}

/**
 * The read side of one deployment: the read-model store, each read model's queries (by name) and
 * (embedded default) the projector feeding them. The api opens it next to the platform;
 * apps/projector runs the projector alone through runProjector.
 */
export interface ReadSide {
  queries: QueriesOf<typeof READ_MODELS>;
  readStore: ReadStore;
  running?: RunningProjector;
  /** the scheduled system events (milestone events), run where the projector runs */
  scheduler?: SystemEventScheduler;
  /** the progress of the segment evaluation (where the scheduler runs) */
  segmentEvaluations: SegmentEvaluations;
  /**
   * Evaluates every segment now, in the background of the caller (a definition was saved): runs
   * the segments job until every change found is appended. Undefined where no scheduler runs.
   */
  evaluateSegmentsNow?(): Promise<void>;
  registry: Registry;
  /**
   * Resolves true once `readModels` (default: all) have handled `position`; false after
   * `timeoutMs`. A query waits only for the read models it reads (read-your-writes).
   */
  whenCaughtUp(position: number, timeoutMs?: number, readModels?: readonly ReadModelName[]): Promise<boolean>;
  lag(readModels?: readonly ReadModelName[]): Promise<ProjectionLag>;
  health(): Promise<ReadSideHealth>;
  close(): Promise<void>;
}

const laneRebuildNeeded = (held: { reason: string; detail: Record<string, unknown> } | undefined) =>
  held?.reason === REBUILD_NEEDED
    ? { liveVersion: Number(held.detail.liveVersion), codeVersion: Number(held.detail.codeVersion) }
    : undefined;

/** Opens the read side; with `projector: 'embedded'` it also starts the projector in this process. */
export async function openReadSide(options: ReadSideOptions): Promise<ReadSide> {
  const mode = options.projector ?? 'embedded';
  const location = options.readStore ?? { kind: 'sqlite', dataDir: options.dataDir };
  const registry = options.registry ?? new Registry();
  const now = options.now ?? Date.now;
  const models: readonly ReadModel[] = READ_MODELS;
  const allNames = models.map((m) => m.name) as ReadModelName[];

  // the projector writes through its own connection(s); queries read through others, so a batch
  // transaction in progress never holds up a lookup (SQLite's WAL and PostgreSQL's MVCC: readers see
  // the last committed batch)
  const onPoolError = (e: Error) =>
    options.logger?.warn?.({ msg: 'read store connection lost', error: (e as { code?: string }).code ?? e.name });
  const writeStore =
    mode === 'embedded' ? await openReadStore(location, { role: 'writer', poolSize: models.length + 2, onPoolError }) : undefined;
  let readStore: ReadStore;
  try {
    readStore = await openReadStore(location, { role: 'reader', migrate: mode === 'external', onPoolError });
  } catch (e) {
    await writeStore?.close();
    throw e;
  }

  const batchSeconds = new Histogram({
    name: 'cem_projection_batch_seconds',
    help: 'Time to project one committed transaction of a read model',
    labelNames: ['read_model'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const projected = new Gauge({
    name: 'cem_projection_checkpoint',
    help: 'Log position each read model has handled',
    labelNames: ['read_model'],
    registers: [registry],
  });

  let running: RunningProjector | undefined;
  if (writeStore) {
    running = await startProjector({
      store: options.store,
      dataDir: options.dataDir,
      db: writeStore.db,
      readStore: writeStore,
      batchSize: options.batchSize,
      onVersionChange: options.onVersionChange,
      logger: options.logger,
      onBatch: (b) => {
        batchSeconds.observe({ read_model: b.readModel }, b.durationMs / 1000);
        projected.set({ read_model: b.readModel }, b.position);
      },
    });
  }

  const checkpoint = async (names: readonly string[]): Promise<number> => {
    if (running) return Math.min(...names.map((n) => running!.projector.positionOf(n)));
    const all = await readCheckpoints(readStore.db, names);
    return Math.min(...all.values());
  };

  const lag = async (names: readonly string[] = allNames): Promise<ProjectionLag> => {
    const [cp, head] = await Promise.all([checkpoint(names), options.store.headPosition()]);
    if (cp >= head) return { checkpoint: cp, head, events: 0, seconds: 0 };
    const [next] = await options.store.readAll({ after: cp, maxCount: 1 });
    const seconds = next ? Math.max(0, (now() - Date.parse(next.recordedAt)) / 1000) : 0;
    return { checkpoint: cp, head, events: head - cp, seconds };
  };

  new Gauge({
    name: 'cem_projection_lag_events',
    help: 'Events recorded in the log but not yet projected, per read model',
    labelNames: ['read_model'],
    registers: [registry],
    async collect() {
      for (const name of allNames) this.set({ read_model: name }, (await lag([name])).events);
    },
  });
  new Gauge({
    name: 'cem_projection_lag_seconds',
    help: 'Age of the oldest event not yet projected, per read model',
    labelNames: ['read_model'],
    registers: [registry],
    async collect() {
      for (const name of allNames) this.set({ read_model: name }, (await lag([name])).seconds);
    },
  });

  const whenCaughtUp = async (position: number, timeoutMs = 30_000, names: readonly ReadModelName[] = allNames): Promise<boolean> => {
    if (running) return running.projector.whenCaughtUp(position, timeoutMs, names);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await checkpoint(names)) >= position) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  // PROJECTOR=external: this process compares the stored checkpoints' versions with its own code's
  let codeVersions: Promise<Map<string, number>> | undefined;
  const storedRebuildNeeded = async (name: string) => {
    codeVersions ??= codeVersionsOf({ store: options.store, db: readStore.db as Kysely<any>, dataDir: options.dataDir });
    const [stored, code] = await Promise.all([readCheckpoint(readStore.db, name), codeVersions.then((v) => v.get(name))]);
    return stored && code !== undefined && stored.position > 0 && stored.version !== code
      ? { liveVersion: stored.version, codeVersion: code }
      : undefined;
  };

  const queries = Object.fromEntries(
    models.map((m) => [
      m.name,
      m.queries(readStore.db, {
        now,
        churnBandThresholds: options.churn?.bandThresholds,
        identifierIndex: identifierIndexOfStore(options.store),
        storedValues: storedValuesOfStore(options.store),
      }),
    ]),
  ) as QueriesOf<typeof READ_MODELS>;
  // the progress is written where the projector writes (PROJECTOR=external: by the projector's process)
  const segmentEvaluations = new SegmentEvaluations((writeStore ?? readStore).db as never);
  const scheduler = running
    ? startScheduledJobs({
        now,
        segmentEvaluations,
        segmentsIntervalMs: options.segmentsIntervalMs,
        store: options.store,
        queries,
        whenCaughtUp,
        logger: options.logger,
        churnRescoringIntervalMs: options.churn?.rescoringIntervalMs,
      })
    : undefined;

  const evaluateSegmentsNow = scheduler
    ? async () => {
        const request = segmentEvaluations.request();
        // a run in progress may have started before the definition was saved: run again after it;
        // the scheduler appends a bounded number of events per run: run again while some wait
        for (let i = 0; i < 1000; i++) {
          const run = await scheduler.runNow(SEGMENTS_JOB);
          await segmentEvaluations.appended(run.deferred);
          if (!segmentEvaluations.serves(request)) continue;
          if (!run.evaluated || run.deferred === 0) return;
        }
      }
    : undefined;

  return {
    queries,
    readStore,
    running,
    scheduler,
    segmentEvaluations,
    evaluateSegmentsNow,
    registry,
    whenCaughtUp,
    lag,
    async health() {
      const lanes = running ? running.projector.health : [];
      const readModels: ReadModelHealth[] = await Promise.all(
        allNames.map(async (name) => {
          const lane = lanes.find((l) => l.name === name);
          const rebuildNeeded = lane ? laneRebuildNeeded(lane.held) : await storedRebuildNeeded(name);
          const status = rebuildNeeded ? REBUILD_NEEDED : (lane?.status ?? 'external');
          return { name, status, lag: await lag([name]), ...(rebuildNeeded ? { rebuildNeeded } : {}) };
        }),
      );
      const status = running ? running.projector.status : 'external';
      // ready once every read model has reached the head once: before, its views would be stale; a
      // read model needing a rebuild serves its old copy meanwhile, so it does not make the process unready
      const ready = running ? running.projector.hasCaughtUp && status !== 'retrying' : true;
      const rebuildNeeded = readModels.filter((m) => m.rebuildNeeded).map((m) => m.name);
      return { ready, projector: mode, status: status === 'held' ? REBUILD_NEEDED : status, lag: await lag(), readModels, rebuildNeeded };
    },
    async close() {
      await scheduler?.stop();
      await running?.close();
      await writeStore?.close();
      await readStore.close();
    },
  };
}
