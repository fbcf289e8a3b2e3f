import { lifecycleStage, npsCategory, valueSegment, type LifecycleFacts } from './lifecycle';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const daysAgo = (d: number) => new Date(NOW - d * 86_400_000).toISOString();
const facts = (f: Partial<LifecycleFacts>): LifecycleFacts => ({
  lastSeenAt: daysAgo(1),
  firstCommercialAt: daysAgo(400),
  lastWinAt: daysAgo(30),
  lastCancelAt: null,
  activeSubscriptions: 0,
  npsCategory: null,
  lastComplaintAt: null,
  ...f,
});

describe('lifecycle stage rules', () => {
  it.each<[string, Partial<LifecycleFacts>, string]>([
    ['never bought: prospect, however active', { firstCommercialAt: null, lastWinAt: null }, 'prospect'],
    ['no activity for 180 days: churned', { lastSeenAt: daysAgo(181) }, 'churned'],
    ['every subscription cancelled, nothing bought since: churned', { lastCancelAt: daysAgo(10), lastWinAt: daysAgo(20) }, 'churned'],
    [
      'cancelled but still has an active subscription: not churned',
      { lastCancelAt: daysAgo(10), lastWinAt: daysAgo(20), activeSubscriptions: 1 },
      'active',
    ],
    ['no activity for 60 days: at risk', { lastSeenAt: daysAgo(61) }, 'at_risk'],
    ['latest NPS a detractor: at risk', { npsCategory: 'detractor' }, 'at_risk'],
    ['complaint in the last 30 days: at risk', { lastComplaintAt: daysAgo(5) }, 'at_risk'],
    ['old complaint: active', { lastComplaintAt: daysAgo(45) }, 'active'],
    ['bought again after a cancellation, recently: won back', { lastCancelAt: daysAgo(100), lastWinAt: daysAgo(20) }, 'won_back'],
    ['won back long ago: active', { lastCancelAt: daysAgo(300), lastWinAt: daysAgo(120) }, 'active'],
    ['first purchase within 90 days: onboarding', { firstCommercialAt: daysAgo(30) }, 'onboarding'],
  ])('%s', (_name, f, stage) => {
    expect(lifecycleStage(facts(f), NOW)).toBe(stage);
  });

  it('categorises NPS and value', () => {
    expect([0, 6, 7, 8, 9, 10].map(npsCategory)).toEqual(['detractor', 'detractor', 'passive', 'passive', 'promoter', 'promoter']);
    expect([valueSegment(0, 0), valueSegment(1, -5), valueSegment(2, 250), valueSegment(9, 1000), valueSegment(40, 5000)]).toEqual([
      'none',
      'low',
      'medium',
      'high',
      'strategic',
    ]);
  });
});
