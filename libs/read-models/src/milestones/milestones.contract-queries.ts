import { customerIdOfStream } from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import { MILESTONE_GROUPINGS, type MilestonesQueries } from './milestones.query';

/**
 * What the read-store contract suite asks the milestones read model on every store: the
 * definitions, every customer's milestones, the funnel and time-to-milestone under each grouping,
 * a cohort range and a segment: the answers must be equal on SQLite and PostgreSQL.
 */
export async function milestonesContractQueries(q: MilestonesQueries, log: readonly RecordedEvent[]): Promise<unknown> {
  const ids = [...new Set(log.map((e) => customerIdOfStream(e.streamId)).filter((id): id is string => id !== undefined))].sort();
  const definitions = await q.definitions();
  const cohorts = [...new Set(log.map((e) => String((e.metadata as { occurredAt?: string }).occurredAt ?? '').slice(0, 7)))].sort();
  const range = { cohortFrom: cohorts[Math.floor(cohorts.length / 4)], cohortTo: cohorts[Math.floor((cohorts.length * 3) / 4)] };
  return {
    definitions,
    history: await q.definitionHistory(),
    customers: await Promise.all(ids.map((id) => q.customer(id))),
    // the scheduler's due list, as of a fixed instant after every event
    due: await q.dueEvents(Date.parse('2100-01-01T00:00:00Z'), 100_000),
    funnels: await Promise.all(MILESTONE_GROUPINGS.map((groupBy) => q.funnel({ groupBy }))),
    funnelRange: await q.funnel({ ...range, groupBy: 'cohort-segment' }),
    funnelSegment: await q.funnel({ segment: 'low', groupBy: 'cohort' }),
    times: await Promise.all(MILESTONE_GROUPINGS.map((groupBy) => q.timeToMilestone({ groupBy }))),
    timesOne: await Promise.all(
      (definitions?.milestones ?? []).map((d) => q.timeToMilestone({ milestone: d.id, ...range, groupBy: 'segment' })),
    ),
  };
}
