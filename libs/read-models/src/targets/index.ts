import { defineReadModel } from '../kit/read-model';
import { targetsContractEvents, targetsContractQueries } from './targets.contract-queries';
import { TargetsProjection } from './targets.projection';
import { TargetsQueries } from './targets.query';
import { TARGETS, TARGETS_TABLES, targetsMigrations, type TargetsTables } from './targets.schema';

/** Programme targets: each target's definition and its change history (status: target-status.ts, at query time). */
export const targets = defineReadModel<TargetsTables>()({
  name: TARGETS,
  version: 1,
  tables: TARGETS_TABLES,
  migrations: targetsMigrations,
  projection: TargetsProjection,
  queries: (db) => new TargetsQueries(db),
  contractQueries: targetsContractQueries,
  contractEvents: targetsContractEvents,
});

export * from './target-status';
export * from './targets.projection';
export * from './targets.query';
export * from './targets.schema';
export * from './target-metrics';
