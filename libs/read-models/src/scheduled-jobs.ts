import type { Logger } from '@cem/config';
import type { EventStore } from '@cem/event-store';
import { CHURN_RISK, churnRescoringJob, type ChurnRiskQueries } from './churn-risk';
import { milestoneEventsJob, MilestonesQueries, MILESTONES } from './milestones';
import type { ReadModelName } from './read-models';
import { SEGMENTS, segmentsJob, type SegmentEvaluations, type SegmentsQueries } from './segments';
import { SystemEventScheduler } from './scheduler/scheduled-system-events';

export interface ScheduledJobsOptions {
  store: EventStore;
  /** the read connection the jobs' queries read through */
  queries: { [MILESTONES]: MilestonesQueries; [CHURN_RISK]: ChurnRiskQueries; [SEGMENTS]: SegmentsQueries };
  /** the clock the jobs evaluate at; default Date.now */
  now?: () => number;
  /** where the segment evaluation reports its progress */
  segmentEvaluations?: SegmentEvaluations;
  /** how often every customer is evaluated against every segment (SEGMENTS_INTERVAL_SECONDS); default 1 minute */
  segmentsIntervalMs?: number;
  /** how often every customer is re-scored for band changes (churn-risk.changed); default 15 minutes */
  churnRescoringIntervalMs?: number;
  whenCaughtUp(position: number, timeoutMs: number, readModels: readonly ReadModelName[]): Promise<boolean>;
  logger?: unknown;
}

const isLogger = (l: unknown): l is Logger => typeof l === 'object' && l !== null && 'info' in l && 'warn' in l && 'error' in l;

/**
 * Starts the platform's scheduled system events (milestone.reached / milestone.missed, churn-risk.changed, segment.entered / segment.left) in the
 * process that runs the projector (the api by default, or apps/projector), so they are evaluated
 * next to the read models they read. Stop it before closing the read store.
 */
export function startScheduledJobs(options: ScheduledJobsOptions): SystemEventScheduler {
  const scheduler = new SystemEventScheduler({
    store: options.store,
    now: options.now,
    logger: isLogger(options.logger) ? options.logger : undefined,
    jobs: [
      milestoneEventsJob({
        queries: options.queries[MILESTONES],
        whenCaughtUp: (position, timeoutMs) => options.whenCaughtUp(position, timeoutMs, [MILESTONES]),
      }),
      churnRescoringJob(
        options.queries[CHURN_RISK],
        (position, timeoutMs) => options.whenCaughtUp(position, timeoutMs, [CHURN_RISK]),
        options.churnRescoringIntervalMs ?? 15 * 60_000,
      ),
      segmentsJob({
        queries: options.queries[SEGMENTS],
        whenCaughtUp: (position, timeoutMs) => options.whenCaughtUp(position, timeoutMs, [SEGMENTS]),
        intervalMs: options.segmentsIntervalMs,
        progress: options.segmentEvaluations,
      }),
    ],
  });
  scheduler.start();
  return scheduler;
}
