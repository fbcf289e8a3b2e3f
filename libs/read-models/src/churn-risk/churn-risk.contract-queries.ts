import type { RecordedEvent } from '@cem/event-store';
import type { ChurnRiskQueries } from './churn-risk.query';

/** What the read-store contract suite asks the churn-risk read model on every store. */
export async function churnRiskContractQueries(q: ChurnRiskQueries, log: readonly RecordedEvent[]): Promise<unknown> {
  const last = log.reduce((m, e) => Math.max(m, Date.parse((e.metadata as { occurredAt?: string }).occurredAt ?? '') || 0), 0);
  const asOf = last + 1;
  const scoring = await q.scoreAll(asOf);
  const first = await q.atRisk({ limit: 5, sort: 'valueAtRisk' }, asOf);
  const second = first.nextCursor ? await q.atRisk({ limit: 5, sort: 'valueAtRisk', cursor: first.nextCursor }) : undefined;
  return {
    scoring,
    earlier: await q.scoreAll(asOf - 90 * 86_400_000),
    pages: [first, second],
    distribution: await q.distribution(asOf),
    scores: await Promise.all(scoring.customers.slice(0, 10).map((c) => q.score(c.customerId, asOf))),
    models: await q.models(),
  };
}
