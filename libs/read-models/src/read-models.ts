import { churnRisk } from './churn-risk';
import { customer360 } from './customer-360';
import { experienceMetrics } from './experience-metrics';
import { milestones } from './milestones';
import { targets } from './targets';

/**
 * Every read model of the platform. Adding one = its folder (see docs/read-models.md) + one entry
 * here: the store's schema, migrations, projector lanes and read-side queries follow from this list.
 */
<<<<<<< HEAD
export const READ_MODELS = [customer360, milestones, targets, experienceMetrics] as const;
=======
export const READ_MODELS = [customer360, churnRisk] as const;
>>>>>>> c0b3a0e (churn-risk read model: facts with instants per customer (merge-aware), explainable logistic risk model over BG/NBD and service signals, fit/backtest on the log, cem churn fit|backtest)

export type ReadModelName = (typeof READ_MODELS)[number]['name'];
