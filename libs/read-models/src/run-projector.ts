import type { LoggerService } from '@nestjs/common';
import type { EventStore } from '@cem/event-store';
import { CHURN_RISK, ChurnRiskQueries } from './churn-risk';
import { MILESTONES } from './milestones';
import { MilestonesQueries } from './milestones/milestones.query';
import type { VersionChangePolicy } from './projector/projection-lane';
import { startProjector, type RunningProjector } from './projector/projector.module';
import { READ_MODELS } from './read-models';
import type { ChurnSettings } from './read-side';
import { startScheduledJobs } from './scheduled-jobs';
import { SEGMENTS, SegmentEvaluations, SegmentsQueries } from './segments';
import { openReadStore, type ReadStoreLocation } from './store/open-read-store';

/**
 * The projector as a process of its own (apps/projector): projects the log into the read store
 * (`<dataDir>/read-models.db`, or PostgreSQL) from each read model's stored checkpoint and follows it
 * live until closed. On PostgreSQL it first takes the projector lock: a second projector process
 * waits until the first stops, saying so.
 */
export async function runProjector(options: {
  dataDir: string;
  /** default: the embedded SQLite file in `dataDir` */
  readStore?: ReadStoreLocation;
  store: EventStore;
  batchSize?: number;
  /** READ_MODEL_VERSION_CHANGE (see VersionChangePolicy; default `hold`) */
  onVersionChange?: VersionChangePolicy;
  logger?: LoggerService;
  /** CHURN_RESCORING_INTERVAL_MINUTES and CHURN_BAND_THRESHOLDS for the scheduled re-scoring */
  churn?: ChurnSettings;
  /** SEGMENTS_INTERVAL_SECONDS in milliseconds; default 1 minute */
  segmentsIntervalMs?: number;
}): Promise<RunningProjector> {
  const location = options.readStore ?? { kind: 'sqlite', dataDir: options.dataDir };
  const readStore = await openReadStore(location, {
    role: 'writer',
    poolSize: READ_MODELS.length + 2,
    onPoolError: (e) => options.logger?.warn?.({ msg: 'read store connection lost', error: (e as { code?: string }).code ?? e.name }),
  });
  const running = await startProjector({
    store: options.store,
    db: readStore.db,
    readStore,
    dataDir: options.dataDir,
    batchSize: options.batchSize,
    onVersionChange: options.onVersionChange,
    logger: options.logger,
  });
  // the scheduled system events run where the projector runs
  const scheduler = startScheduledJobs({
    store: options.store,
    queries: {
      [MILESTONES]: new MilestonesQueries(readStore.db as never, Date.now),
      [CHURN_RISK]: new ChurnRiskQueries(readStore.db as never, Date.now, options.churn?.bandThresholds),
      [SEGMENTS]: new SegmentsQueries(readStore.db as never, Date.now),
    },
    churnRescoringIntervalMs: options.churn?.rescoringIntervalMs,
    segmentsIntervalMs: options.segmentsIntervalMs,
    // the evaluation's progress, in the read store: the api processes read it from there
    segmentEvaluations: new SegmentEvaluations(readStore.db as never),
    whenCaughtUp: (position, timeoutMs, readModels) => running.projector.whenCaughtUp(position, timeoutMs, readModels),
    logger: options.logger,
  });
  return {
    projector: running.projector,
    async close() {
      await scheduler.stop();
      await running.close();
      await readStore.close();
    },
  };
}
