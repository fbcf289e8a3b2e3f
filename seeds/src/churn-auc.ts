import type { EventStore } from '@cem/event-store';
import type { Identifier } from '@cem/domain';
import {
  auc,
  churnFactsFromLog,
  churnFeatures,
  fitChurnModel,
  knownAt,
  riskModelOf,
  scoreFeatures,
  type ChurnFacts,
  type FeatureName,
} from '@cem/read-models/churn-risk';
import type { Lifecycle, SeedManifest } from './generator';

const DAY = 86_400_000;

/**
 * The signals the generator plants in the months before a churn (generator.ts `churnSignals`):
 * repeat contacts about one reason, an unresolved (often reopened, escalated) case, a complaint, a
 * detractor NPS answer, a downgrade, then the cancellation. The other factors (recency, rhythm,
 * BG/NBD, value, tenure) come from how active a customer is, which is not planted for churners.
 */
export const PLANTED: readonly FeatureName[] = [
  'unresolved_cases',
  'reopened_cases',
  'repeat_contacts',
  'detractor_nps',
  'low_csat',
  'high_effort',
  'complaints',
  'downgrades',
  'subscription_cancelled',
  'active_subscription',
];

/** One customer scored at the as-of instant, with the parts of its log-odds. */
export interface ScoredPerson {
  churner: boolean;
  lifecycle: Lifecycle;
  /** each factor's contribution to the log-odds */
  contributions: Partial<Record<FeatureName, number>>;
  logOdds: number;
  /** sum of the contributions of the PLANTED factors */
  planted: number;
  /** days since the customer's last touch point before the as-of instant */
  daysSinceLastTouch: number;
}

/** How well one group of scored customers separates churners from the rest, by several scores. */
export interface AucFigures {
  churners: number;
  others: number;
  /** the churn-risk score (log-odds of the model fitted at the as-of instant) */
  auc: number;
  /** days since the last touch point alone */
  recencyAuc: number;
  /** the PLANTED factors' contributions alone */
  plantedAuc: number;
  /** the score less the PLANTED factors' contributions */
  withoutPlantedAuc: number;
}

export interface SeededAucReport extends AucFigures {
  asOf: string;
  /** `after`: every customer known then, churners all gone silent; `before`: churners who cancel in the next 90 days against non-churners */
  kind: 'after' | 'before';
  /** the same figures without the generator's prospects (people who never bought or subscribed) */
  withoutProspects: AucFigures;
  people: ScoredPerson[];
}

export function aucFigures(people: readonly ScoredPerson[]): AucFigures {
  const labels = people.map((p) => p.churner);
  const of = (score: (p: ScoredPerson) => number) => auc(people.map(score), labels);
  return {
    churners: labels.filter(Boolean).length,
    others: labels.filter((c) => !c).length,
    auc: of((p) => p.logOdds),
    recencyAuc: of((p) => p.daysSinceLastTouch),
    plantedAuc: of((p) => p.planted),
    withoutPlantedAuc: of((p) => p.logOdds - p.planted),
  };
}

/**
 * Scores every seeded customer known at `asOf` with a model fitted on the log as of it (`cem churn
 * fit`'s fit, horizon 90 days) and measures how well the scores separate the generator's known
 * churners from the rest. `before`: only churners whose cancellation falls in [asOf, asOf + 90
 * days) count as positives (a prediction); churners who cancelled earlier or later are left out.
 */
export async function seededChurnAuc(
  store: EventStore,
  lookup: (identifier: Identifier) => Promise<string | undefined>,
  manifest: SeedManifest,
  options: { asOf: number; kind: 'after' | 'before'; facts?: ChurnFacts[] },
): Promise<SeededAucReport> {
  const { asOf } = options;
  const all = options.facts ?? (await churnFactsFromLog(store));
  const model = riskModelOf(fitChurnModel(all, { asOf, horizonDays: 90, version: 1 }));
  const byId = new Map(all.map((f) => [f.customerId, f]));
  const people: ScoredPerson[] = [];
  for (const person of manifest.people) {
    const id = await lookup(person.identifiers[0]);
    const facts = id === undefined ? undefined : byId.get(id);
    if (!facts || facts.mergedInto !== null || !knownAt(facts, asOf)) continue;
    const churner = person.churner;
    if (options.kind === 'before' && churner) {
      const at = Date.parse(person.churnedAt!);
      if (at < asOf || at >= asOf + 90 * DAY) continue;
    }
    const s = scoreFeatures(model, churnFeatures(facts, asOf, { bgNbd: model.bgNbd, windowDays: model.trainingWindowDays }));
    let lastTouch = facts.touches[0];
    for (const t of facts.touches) if (t < asOf) lastTouch = t;
    people.push({
      churner,
      lifecycle: person.lifecycle,
      contributions: Object.fromEntries(s.factors.map((f) => [f.name, f.contribution])),
      logOdds: s.logOdds,
      planted: s.factors.filter((f) => PLANTED.includes(f.name)).reduce((sum, f) => sum + f.contribution, 0),
      daysSinceLastTouch: (asOf - lastTouch) / DAY,
    });
  }
  return {
    asOf: new Date(asOf).toISOString(),
    kind: options.kind,
    ...aucFigures(people),
    withoutProspects: aucFigures(people.filter((p) => p.lifecycle !== 'prospect')),
    people,
  };
}
