import { emptyChurnFacts, foldChurnFacts } from '../churn-facts';
import type { ProjectedRecord } from '../../projector/projected-record';
import { churnFeatures, FEATURE_NAMES, type FeatureName } from './features';
import { parseHorizonDays } from './horizon';
import { auc } from './metrics';
import { PRIOR_MODEL } from './prior-model';
import { bandOf, fitLogistic, scoreFeatures } from './risk-model';

const DAY = 86_400_000;
const T0 = Date.parse('2026-06-01T00:00:00Z');
let position = 0;
const rec = (type: string, at: number, data: Record<string, unknown>) =>
  ({
    type,
    data,
    position: ++position,
    eventId: `e${position}`,
    streamId: 'customer-c1',
    revision: position,
    recordedAt: new Date(at).toISOString(),
    metadata: { schemaVersion: 1, occurredAt: new Date(at).toISOString(), customerId: 'c1', source: 't' },
  }) as unknown as ProjectedRecord;

describe('risk model', () => {
  it("explains a score with reasons from the customer's own facts, contributions adding up to the log-odds", () => {
    const f = emptyChurnFacts('c1');
    for (const d of [0, 21, 42, 63])
      foldChurnFacts(f, rec('purchase.completed', T0 + d * DAY, { orderId: `o${d}`, amount: 40, currency: 'EUR' }));
    foldChurnFacts(f, rec('case.opened', T0 + 70 * DAY, { caseId: 'k1' }));
    foldChurnFacts(f, rec('case.opened', T0 + 72 * DAY, { caseId: 'k2' }));
    foldChurnFacts(f, rec('survey.answered', T0 + 80 * DAY, { nps: 3 }));
    foldChurnFacts(f, rec('subscription.changed', T0 + 90 * DAY, { subscriptionId: 's', change: 'downgrade', toPlan: 'basic' }));
    const asOf = T0 + 157 * DAY;
    const features = churnFeatures(f, asOf, { bgNbd: PRIOR_MODEL.bgNbd, windowDays: 90 });
    expect(features.reasons.purchase_recency_vs_rhythm).toBe('no purchase for 94 days; usual gap 21 days');
    expect(features.reasons.unresolved_cases).toBe('2 unresolved cases older than 7 days');
    expect(features.reasons.detractor_nps).toBe('detractor NPS 3 on 2026-08-20');
    expect(features.reasons.downgrades).toBe('downgraded plan on 2026-08-30');
    const score = scoreFeatures(PRIOR_MODEL, features);
    expect(score.base + score.factors.reduce((s, x) => s + x.contribution, 0)).toBeCloseTo(score.logOdds, 12);
    let exact = score.base;
    for (const x of score.factors) exact += x.contribution;
    expect(exact).toBe(score.logOdds);
    expect(score.band).toBe(bandOf(score.probability, PRIOR_MODEL.bandThresholds));
    // the same customer a month earlier, before the complaints piled up, is at lower risk
    expect(
      scoreFeatures(PRIOR_MODEL, churnFeatures(f, T0 + 64 * DAY, { bgNbd: PRIOR_MODEL.bgNbd, windowDays: 90 })).probability,
    ).toBeLessThan(score.probability);
  });

  it('customers with no purchase history get a score too (subscription-only, support-only)', () => {
    const f = emptyChurnFacts('c2');
    foldChurnFacts(f, rec('subscription.started', T0, { subscriptionId: 's', plan: 'pro' }));
    const s = scoreFeatures(PRIOR_MODEL, churnFeatures(f, T0 + 10 * DAY, { bgNbd: PRIOR_MODEL.bgNbd, windowDays: 90 }));
    foldChurnFacts(f, rec('subscription.cancelled', T0 + 20 * DAY, { subscriptionId: 's' }));
    const cancelled = scoreFeatures(PRIOR_MODEL, churnFeatures(f, T0 + 21 * DAY, { bgNbd: PRIOR_MODEL.bgNbd, windowDays: 90 }));
    expect(cancelled.probability).toBeGreaterThan(s.probability);
    expect(cancelled.factors[0].reason).toBe('subscription cancelled on 2026-06-21');
  });

  it('logistic fit recovers the weights of simulated data and gives zero weight to a constant feature', () => {
    let seed = 1;
    const u = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const rows: Record<FeatureName, number>[] = [];
    const y: boolean[] = [];
    for (let i = 0; i < 20_000; i++) {
      const r = Object.fromEntries(FEATURE_NAMES.map((n) => [n, 0])) as Record<FeatureName, number>;
      r.complaints = u() * 4 - 2;
      r.tenure = u() * 4 - 2;
      rows.push(r);
      y.push(u() < 1 / (1 + Math.exp(-(0.5 + 1.5 * r.complaints - 0.8 * r.tenure))));
    }
    const fit = fitLogistic(rows, y, 0.001);
    const w = (n: FeatureName) => fit.features.find((f) => f.name === n)!;
    // standardised weights: the raw weight times the feature's sd
    expect(w('complaints').weight / w('complaints').sd).toBeCloseTo(1.5, 1);
    expect(w('tenure').weight / w('tenure').sd).toBeCloseTo(-0.8, 1);
    expect(w('refunds')).toEqual({ name: 'refunds', mean: 0, sd: 0, weight: 0 });
    expect(() =>
      fitLogistic(
        rows,
        rows.map(() => true),
      ),
    ).toThrow(/both churned and retained/);
  });

  it('AUC: perfect, reversed and tied rankings', () => {
    expect(auc([1, 2, 3, 4], [false, false, true, true])).toBe(1);
    expect(auc([4, 3, 2, 1], [false, false, true, true])).toBe(0);
    expect(auc([1, 1, 1, 1], [false, true, false, true])).toBe(0.5);
  });

  it('parses horizons and refuses bad ones by name', () => {
    expect(parseHorizonDays('39w')).toBe(273);
    expect(parseHorizonDays('90d')).toBe(90);
    expect(parseHorizonDays('3m')).toBe(90);
    expect(() => parseHorizonDays('soon')).toThrow(/horizon "soon": expected a number of days/);
    expect(() => parseHorizonDays('1d')).toThrow(/between 7 days and 10 years/);
  });
});
