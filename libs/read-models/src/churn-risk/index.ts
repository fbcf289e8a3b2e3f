import { defineReadModel } from '../kit/read-model';
import { churnRiskContractQueries } from './churn-risk.contract-queries';
import { ChurnRiskProjection } from './churn-risk.projection';
import { ChurnRiskQueries } from './churn-risk.query';
import { CHURN_RISK, CHURN_RISK_TABLES, churnRiskMigrations, type ChurnRiskTables } from './churn-risk.schema';

/** Churn risk: each customer's facts with their instants, scored at any as-of instant by the latest fitted model. */
export const churnRisk = defineReadModel<ChurnRiskTables>()({
  name: CHURN_RISK,
  // 3: the platform's own events on a customer's stream (milestones, segments, erasure) are no longer touches
  version: 3,
  tables: CHURN_RISK_TABLES,
  migrations: churnRiskMigrations,
  projection: ChurnRiskProjection,
  queries: (db, { now, churnBandThresholds }) => new ChurnRiskQueries(db, now, churnBandThresholds),
  contractQueries: churnRiskContractQueries,
});

export * from './churn-facts';
export * from './churn-risk.projection';
export * from './churn-risk.query';
export * from './churn-risk.schema';
export * from './model/bg-nbd';
export * from './model/features';
export * from './model/fit-churn-model';
export * from './model/horizon';
export * from './model/metrics';
export * from './model/prior-model';
export * from './model/risk-model';
export * from './churn-model-log';
export * from './churn-rescoring.job';
export * from './churn-lifecycle';
