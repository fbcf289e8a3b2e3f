import { churnRisk } from './churn-risk';
import { customer360 } from './customer-360';
import { experienceMetrics } from './experience-metrics';
import { milestones } from './milestones';
import { segments } from './segments';
import { targets } from './targets';

/**
 * Every read model of the platform. Adding one = its folder (see docs/read-models.md) + one entry
 * here: the store's schema, migrations, projector lanes and read-side queries follow from this list.
 */
export const READ_MODELS = [customer360, milestones, targets, experienceMetrics, churnRisk, segments] as const;

export type ReadModelName = (typeof READ_MODELS)[number]['name'];
