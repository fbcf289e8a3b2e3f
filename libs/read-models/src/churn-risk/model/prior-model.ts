import type { ChurnModelFeature } from '@cem/domain';
import { FEATURE_NAMES, type FeatureName } from './features';
import { DEFAULT_BAND_THRESHOLDS } from './fit-churn-model';
import type { RiskModel } from './risk-model';

/**
 * The model used until the first `cem churn fit`: hand-set weights (log-odds per unit of the raw
 * feature), a prior rather than a fit, so that every customer has an explainable score from the
 * first event on. Its BG/NBD part uses the parameters Fader, Hardie & Lee (2005) published for the
 * CDNOW sample. Version 0: a fitted model is version 1 or later and replaces it.
 */
const WEIGHTS: Partial<Record<FeatureName, { weight: number; mean?: number }>> = {
  bgnbd_expected_purchases: { weight: -1, mean: 0.5 },
  purchase_recency_vs_rhythm: { weight: 0.4, mean: 0.7 },
  days_since_last_touch: { weight: 0.6, mean: 3 },
  unresolved_cases: { weight: 0.5 },
  reopened_cases: { weight: 0.4 },
  repeat_contacts: { weight: 0.3 },
  detractor_nps: { weight: 1 },
  low_csat: { weight: 0.7 },
  high_effort: { weight: 0.5 },
  complaints: { weight: 0.6 },
  refunds: { weight: 0.3 },
  order_cancellations: { weight: 0.3 },
  downgrades: { weight: 0.8 },
  subscription_cancelled: { weight: 2 },
  active_subscription: { weight: -1 },
  unsubscribed: { weight: 0.5 },
};

export const PRIOR_MODEL: RiskModel = {
  name: 'churn-risk-prior',
  version: 0,
  horizonDays: 90,
  trainingWindowDays: 90,
  bandThresholds: DEFAULT_BAND_THRESHOLDS,
  bgNbd: { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 },
  intercept: -1,
  features: FEATURE_NAMES.map((name): ChurnModelFeature => ({
    name,
    mean: WEIGHTS[name]?.mean ?? 0,
    sd: 1,
    weight: WEIGHTS[name]?.weight ?? 0,
  })),
};
