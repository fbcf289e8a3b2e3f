import { customerStreamId, type ChurnRiskChangedV1 } from '@cem/domain';
import type { ScheduledEvent, ScheduledJob } from '../scheduler/scheduled-system-events';
import type { ChurnRiskQueries } from './churn-risk.query';

export const CHURN_RESCORING_JOB = 'churn-risk-bands';

/**
 * The scheduled re-scoring (a job of SystemEventScheduler): scores every customer as of the run's
 * instant and appends `churn-risk.changed` to the customer's stream when the band differs from the
 * last one announced (a customer never announced counts as `low`, so a first scoring announces only
 * the customers above it). The read model projects these events (`announced`, `announcedBand`), so
 * a rebuild or a restart finds them announced; the id is (customer, ordinal of the change, band).
 */
export function churnRescoringJob(
  queries: ChurnRiskQueries,
  whenCaughtUp: (position: number, timeoutMs: number) => Promise<boolean>,
  intervalMs: number,
): ScheduledJob {
  return {
    name: CHURN_RESCORING_JOB,
    intervalMs,
    whenCaughtUp,
    async evaluate(asOf) {
      const scoring = await queries.scoreAll(asOf);
      queries.rememberScheduledScoring(asOf);
      const due: ScheduledEvent[] = [];
      for (const c of scoring.customers) {
        if (c.band === (c.announcedBand ?? 'low')) continue;
        const data: ChurnRiskChangedV1 = {
          customerId: c.customerId,
          fromBand: c.announcedBand,
          band: c.band,
          probability: c.probability,
          logOdds: c.logOdds,
          asOf: scoring.asOf,
          model: { name: scoring.model.name, version: scoring.model.version },
          topFactors: c.topFactor ? [c.topFactor.name] : [],
        };
        due.push({
          streamId: customerStreamId(c.customerId),
          type: 'churn-risk.changed',
          data,
          metadata: { schemaVersion: 1, occurredAt: scoring.asOf, customerId: c.customerId, source: 'cem/churn-rescoring' },
          idParts: [c.customerId, String(c.announced + 1), c.band],
        });
      }
      return due;
    },
  };
}
