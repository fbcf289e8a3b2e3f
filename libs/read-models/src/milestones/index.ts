import { defineReadModel } from '../kit/read-model';
import { milestonesContractQueries } from './milestones.contract-queries';
import { MilestonesProjection } from './milestones.projection';
import { MilestonesQueries } from './milestones.query';
import { MILESTONES, MILESTONES_TABLES, milestonesMigrations, type MilestonesTables } from './milestones.schema';

/**
 * Journey milestones: per customer which milestones of `<DATA_DIR>/milestones.json` were reached
 * and when, which were missed; funnel and time-to-milestone in aggregate.
 */
export const milestones = defineReadModel<MilestonesTables>()({
  name: MILESTONES,
  // the checkpoint carries the projection's configuredVersion (code version + definitions fingerprint)
  version: 1,
  tables: MILESTONES_TABLES,
  migrations: milestonesMigrations,
  projection: MilestonesProjection,
  queries: (db, { now }) => new MilestonesQueries(db, now),
  contractQueries: milestonesContractQueries,
});

export * from './milestone-definitions';
export * from './milestones.model';
export * from './milestones.projection';
export * from './milestones.query';
export * from './milestones.schema';
export * from './milestone-events';
