import type { ExpressionBuilder } from 'kysely';
import type { Customer360Tables } from './customer-360.schema';

/*
 * Lifecycle stage, value segment and NPS category: the rules in one place.
 *
 * The stage depends on how long ago things happened, so it is not stored (a stored stage would go
 * stale, and a projection that read the clock would not be deterministic). It is evaluated at query
 * time from stored facts and an instant `now`, by the same rules here in TypeScript (one customer)
 * and as an SQL expression (filters over all customers); a test keeps the two in agreement.
 *
 * Stage at `now`, first rule that matches:
 *  1. prospect   - never bought nor subscribed
 *  2. churned    - no activity for CHURN_AFTER_DAYS, or every subscription cancelled with no purchase
 *                  or new subscription after the last cancellation
 *  3. at_risk    - no activity for AT_RISK_AFTER_DAYS, or the latest NPS answer is a detractor, or a
 *                  complaint in the last COMPLAINT_RISK_DAYS
 *  4. won_back   - bought or subscribed again after a cancellation, within WON_BACK_DAYS
 *  5. onboarding - first purchase or subscription within ONBOARDING_DAYS
 *  6. active     - otherwise
 */
export const LIFECYCLE_STAGES = ['prospect', 'onboarding', 'active', 'at_risk', 'churned', 'won_back'] as const;
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];

export const CHURN_AFTER_DAYS = 180;
export const AT_RISK_AFTER_DAYS = 60;
export const COMPLAINT_RISK_DAYS = 30;
export const WON_BACK_DAYS = 90;
export const ONBOARDING_DAYS = 90;

export const NPS_CATEGORIES = ['promoter', 'passive', 'detractor'] as const;
export type NpsCategory = (typeof NPS_CATEGORIES)[number];
export const npsCategory = (score: number): NpsCategory => (score >= 9 ? 'promoter' : score >= 7 ? 'passive' : 'detractor');

/**
 * Value segment from net lifetime value (purchases - refunds). Amounts of different currencies are
 * added in major units without conversion: right for single-currency deployments, approximate
 * otherwise (a rate table is the follow-up). `none`: never bought.
 */
export const VALUE_SEGMENTS = ['none', 'low', 'medium', 'high', 'strategic'] as const;
export type ValueSegment = (typeof VALUE_SEGMENTS)[number];
export function valueSegment(purchases: number, netValue: number): ValueSegment {
  if (purchases === 0) return 'none';
  if (netValue >= 5000) return 'strategic';
  if (netValue >= 1000) return 'high';
  if (netValue >= 250) return 'medium';
  return 'low';
}

export interface LifecycleFacts {
  lastSeenAt: string | null;
  firstCommercialAt: string | null;
  lastWinAt: string | null;
  lastCancelAt: string | null;
  activeSubscriptions: number;
  npsCategory: string | null;
  lastComplaintAt: string | null;
}

const DAY_MS = 86_400_000;
const daysBefore = (nowMs: number, days: number) => new Date(nowMs - days * DAY_MS).toISOString();

export interface StageCutoffs {
  churn: string;
  atRisk: string;
  complaint: string;
  wonBack: string;
  onboarding: string;
}

export function stageCutoffs(nowMs: number): StageCutoffs {
  return {
    churn: daysBefore(nowMs, CHURN_AFTER_DAYS),
    atRisk: daysBefore(nowMs, AT_RISK_AFTER_DAYS),
    complaint: daysBefore(nowMs, COMPLAINT_RISK_DAYS),
    wonBack: daysBefore(nowMs, WON_BACK_DAYS),
    onboarding: daysBefore(nowMs, ONBOARDING_DAYS),
  };
}

export function lifecycleStage(f: LifecycleFacts, nowMs: number): LifecycleStage {
  const cut = stageCutoffs(nowMs);
  if (f.firstCommercialAt === null) return 'prospect';
  const allCancelled = f.activeSubscriptions === 0 && f.lastCancelAt !== null && (f.lastWinAt === null || f.lastCancelAt >= f.lastWinAt);
  if ((f.lastSeenAt !== null && f.lastSeenAt <= cut.churn) || allCancelled) return 'churned';
  if (
    (f.lastSeenAt !== null && f.lastSeenAt <= cut.atRisk) ||
    f.npsCategory === 'detractor' ||
    (f.lastComplaintAt !== null && f.lastComplaintAt > cut.complaint)
  ) {
    return 'at_risk';
  }
  if (f.lastCancelAt !== null && f.lastWinAt !== null && f.lastWinAt > f.lastCancelAt && f.lastWinAt > cut.wonBack) return 'won_back';
  if (f.firstCommercialAt > cut.onboarding) return 'onboarding';
  return 'active';
}

/** The same rules as an SQL expression over c360_customers (portable CASE, no functions). */
export function lifecycleStageSql(eb: ExpressionBuilder<Customer360Tables, 'c360_customers'>, nowMs: number) {
  const cut = stageCutoffs(nowMs);
  const allCancelled = eb.and([
    eb('active_subscriptions', '=', 0),
    eb('last_cancel_at', 'is not', null),
    eb.or([eb('last_win_at', 'is', null), eb('last_cancel_at', '>=', eb.ref('last_win_at'))]),
  ]);
  return eb
    .case()
    .when('first_commercial_at', 'is', null)
    .then('prospect')
    .when(eb.or([eb('last_seen_at', '<=', cut.churn), allCancelled]))
    .then('churned')
    .when(eb.or([eb('last_seen_at', '<=', cut.atRisk), eb('nps_category', '=', 'detractor'), eb('last_complaint_at', '>', cut.complaint)]))
    .then('at_risk')
    .when(
      eb.and([
        eb('last_cancel_at', 'is not', null),
        eb('last_win_at', 'is not', null),
        eb('last_win_at', '>', eb.ref('last_cancel_at')),
        eb('last_win_at', '>', cut.wonBack),
      ]),
    )
    .then('won_back')
    .when('first_commercial_at', '>', cut.onboarding)
    .then('onboarding')
    .else('active')
    .end();
}
