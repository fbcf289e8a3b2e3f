import { customerStreamId } from '@cem/domain';
import type { ScheduledEvent, ScheduledJob } from '../scheduler/scheduled-system-events';
import type { MilestonesQueries } from './milestones.query';

/** the scheduled job's name: part of every milestone event id (never rename it) */
export const MILESTONE_EVENTS_JOB = 'milestones';
/** the `source` of milestone events */
export const MILESTONE_EVENTS_SOURCE = 'cem.milestones';
export const DEFAULT_MILESTONE_EVENTS_INTERVAL_MS = 60_000;
/** due events read per run: the scheduler appends at most its own maxEventsPerRun (5,000) and defers the rest */
const DUE_PER_RUN = 5_001;

/**
 * The scheduled job that appends `milestone.reached` and `milestone.missed` to the customer's
 * stream. Due = the milestones read model's outcome at the run's instant differs from the latest
 * milestone event of the milestone's current definition in the log (the read model folds the events
 * it appends, so an announced outcome is never due again, also after a rebuild from 0). Ids are
 * deterministic from (customer, milestone, definition fingerprint, reached|missed).
 */
export function milestoneEventsJob(options: {
  queries: MilestonesQueries;
  whenCaughtUp(position: number, timeoutMs: number): Promise<boolean>;
  intervalMs?: number;
}): ScheduledJob {
  return {
    name: MILESTONE_EVENTS_JOB,
    intervalMs: options.intervalMs ?? DEFAULT_MILESTONE_EVENTS_INTERVAL_MS,
    whenCaughtUp: options.whenCaughtUp,
    async evaluate(asOf: number): Promise<ScheduledEvent[]> {
      const due = await options.queries.dueEvents(asOf, DUE_PER_RUN);
      return due.map((d) => ({
        streamId: customerStreamId(d.customerId),
        type: d.kind === 'reached' ? 'milestone.reached' : 'milestone.missed',
        data:
          d.kind === 'reached'
            ? { milestoneId: d.milestoneId, definition: d.definition, reachedAt: d.at }
            : { milestoneId: d.milestoneId, definition: d.definition, deadlineAt: d.at },
        metadata: { schemaVersion: 1, occurredAt: d.at, customerId: d.customerId, source: MILESTONE_EVENTS_SOURCE },
        idParts: [d.customerId, d.milestoneId, d.definition, d.kind],
      }));
    },
  };
}
