import { compileSegmentRule, countWithin, MAX_RULE_DEPTH, windowMs, type RuleVocabulary, type SegmentFacts } from './segment-rule';

const VOCABULARY: RuleVocabulary = {
  consentPurposes: new Set(['marketing-email', 'profiling']),
  milestoneIds: new Set(['first-purchase']),
};
const NOW = Date.parse('2026-06-30T12:00:00.000Z');
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW - days * DAY).toISOString();

const facts = (over: Partial<SegmentFacts> = {}): SegmentFacts => ({
  lifecycleStage: 'active',
  valueSegment: 'high',
  netValue: 1200,
  purchases: 4,
  channels: ['phone', 'web'],
  openCases: 1,
  nps: 9,
  npsCategory: 'promoter',
  csat: null,
  ces: null,
  consents: { 'marketing-email': true },
  churnBand: 'high',
  churnScore: 0.61,
  milestones: { 'first-purchase': 'reached' },
  recent: { 'contact.handled': [ago(40), ago(20), ago(10), ago(2)], 'contact.handled|billing': [ago(40), ago(10), ago(2)] },
  ...over,
});

const compile = (rule: unknown) => compileSegmentRule(rule, VOCABULARY);
const matches = (rule: unknown, f: SegmentFacts = facts(), at = NOW) => {
  const c = compile(rule);
  if (!c.ok) throw new Error(JSON.stringify(c.errors));
  return c.evaluate(f, at);
};
const errorsOf = (rule: unknown) => {
  const c = compile(rule);
  return c.ok ? [] : c.errors;
};

describe('segment rule language', () => {
  it('compares facts: enums, ordered enums, numbers, sets, consents, milestones, null scores', () => {
    expect(matches({ fact: 'lifecycleStage', op: '=', value: 'active' })).toBe(true);
    expect(matches({ fact: 'lifecycleStage', op: 'in', value: ['at_risk', 'churned'] })).toBe(false);
    expect(matches({ fact: 'valueSegment', op: '>=', value: 'medium' })).toBe(true);
    expect(matches({ fact: 'valueSegment', op: '>', value: 'high' })).toBe(false);
    expect(matches({ fact: 'churnBand', op: '>=', value: 'high' })).toBe(true);
    expect(matches({ fact: 'churnScore', op: '<', value: 0.5 })).toBe(false);
    expect(matches({ fact: 'netValue', op: '>', value: 1000 })).toBe(true);
    expect(matches({ fact: 'channels', op: 'includes', value: 'phone' })).toBe(true);
    expect(matches({ fact: 'channels', op: 'excludes', value: 'web' })).toBe(false);
    expect(matches({ fact: 'consent.marketing-email', op: '=', value: true })).toBe(true);
    expect(matches({ fact: 'consent.profiling', op: '=', value: true })).toBe(false);
    expect(matches({ fact: 'milestone.first-purchase', op: '=', value: 'reached' })).toBe(true);
    expect(matches({ fact: 'milestone.first-purchase', op: '=', value: 'open' }, facts({ milestones: {} }))).toBe(true);
    // a missing score never compares; exists tells it apart
    expect(matches({ fact: 'csat', op: '<', value: 3 })).toBe(false);
    expect(matches({ fact: 'csat', op: '>=', value: 3 })).toBe(false);
    expect(matches({ fact: 'csat', op: 'exists', value: false })).toBe(true);
  });

  it('combines with all / any / not', () => {
    const atRiskPromoters = {
      all: [
        { fact: 'npsCategory', op: '=', value: 'promoter' },
        {
          any: [
            { fact: 'churnBand', op: '>=', value: 'high' },
            { fact: 'openCases', op: '>', value: 2 },
          ],
        },
        { not: { fact: 'lifecycleStage', op: '=', value: 'churned' } },
      ],
    };
    expect(matches(atRiskPromoters)).toBe(true);
    expect(matches(atRiskPromoters, facts({ churnBand: 'low' }))).toBe(false);
    expect(matches(atRiskPromoters, facts({ churnBand: 'low', openCases: 3 }))).toBe(true);
  });

  it('counts events of a type (and detail) in a window ending at the evaluation instant, which moves with time', () => {
    const billing = { count: 'contact.handled', where: { reason: 'billing' }, within: 'P30D', op: '>=', value: 2 };
    expect(matches(billing)).toBe(true);
    // 9 days later the contact of 10 days ago is 19 days old, the one of 2 days ago 11: still 2
    expect(matches(billing, facts(), NOW + 9 * DAY)).toBe(true);
    // 21 days later only the one of 2 days ago (23 days old) is in the window
    expect(matches(billing, facts(), NOW + 21 * DAY)).toBe(false);
    expect(matches({ count: 'contact.handled', within: 'P4W', op: '=', value: 3 })).toBe(true);
    expect(matches({ count: 'complaint.filed', within: 'PT12H', op: '=', value: 0 })).toBe(true);
    expect(windowMs('P30D')).toBe(30 * DAY);
    expect(windowMs('P366D')).toBeUndefined();
    expect(countWithin([ago(3), ago(1)], NOW - 2 * DAY, NOW)).toBe(1);
  });

  it('names the JSON path and the reason of every bad input', () => {
    expect(
      errorsOf({
        all: [
          { fact: 'lifecycleStage', op: '=', value: 'active' },
          { fact: 'shoeSize', op: '>', value: 42 },
        ],
      }),
    ).toEqual([{ field: 'rule.all[1].fact', reason: expect.stringMatching(/^unknown fact "shoeSize"; facts are lifecycleStage, /) }]);
    expect(errorsOf({ fact: 'netValue', op: '>', value: 'strategic' })).toEqual([
      { field: 'rule.value', reason: expect.stringContaining('must be a number') },
    ]);
    expect(errorsOf({ fact: 'lifecycleStage', op: '=', value: 3 })).toEqual([
      { field: 'rule.value', reason: expect.stringContaining('must be one of prospect, onboarding') },
    ]);
    expect(errorsOf({ fact: 'lifecycleStage', op: '>', value: 'active' })).toEqual([
      { field: 'rule.op', reason: 'must be one of =, !=, in, not in for lifecycleStage' },
    ]);
    expect(errorsOf({ any: [{ fact: 'consent.newsletter', op: '=', value: true }] })).toEqual([
      { field: 'rule.any[0].fact', reason: 'unknown consent purpose "newsletter"; known: marketing-email, profiling' },
    ]);
    expect(errorsOf({ fact: 'milestone.nope', op: '=', value: 'reached' })).toEqual([
      { field: 'rule.fact', reason: 'unknown milestone "nope"; known: first-purchase' },
    ]);
    expect(errorsOf({ count: 'contact.handled', within: '30 days', op: '>=', value: 3 })).toEqual([
      { field: 'rule.within', reason: expect.stringMatching(/^is not a duration/) },
    ]);
    expect(errorsOf({ count: 'contact.handled', where: { channel: 'phone' }, within: 'P1D', op: '>=', value: 1 })).toEqual([
      { field: 'rule.where', reason: 'must be { "reason": "<value>" } for contact.handled' },
    ]);
    expect(errorsOf({ count: 'customer.registered', within: 'P1D', op: '>=', value: 1 })).toEqual([
      { field: 'rule.count', reason: expect.stringMatching(/^must be a touch-point event type/) },
    ]);
    expect(errorsOf({ all: [] })).toEqual([{ field: 'rule.all', reason: 'must be a list of 1 to 50 rules' }]);
    expect(errorsOf({ fact: 'nps', op: '>', value: 9, extra: 1 })).toEqual([
      { field: 'rule.extra', reason: 'unknown key: a comparison has fact, op and value' },
    ]);
    expect(errorsOf({ all: [{ fact: 'nps', op: '>', value: 9 }], any: [] })).toEqual([
      { field: 'rule', reason: 'has both all and any: one per object' },
    ]);
    expect(errorsOf('everyone')).toEqual([{ field: 'rule', reason: 'must be a rule object: all, any, not, fact or count' }]);
    // several problems: each one reported
    expect(
      errorsOf({
        all: [
          { fact: 'nps', op: '>', value: 11 },
          { fact: 'x', op: '=', value: 1 },
        ],
      }).map((e) => e.field),
    ).toEqual(['rule.all[0].value', 'rule.all[1].fact']);
  });

  it(`refuses nesting deeper than ${MAX_RULE_DEPTH} levels, naming where`, () => {
    const leaf = { fact: 'nps', op: '>=', value: 9 };
    let ok: unknown = leaf;
    for (let i = 0; i < MAX_RULE_DEPTH; i++) ok = { not: ok };
    expect(errorsOf(ok)).toEqual([]);
    expect(errorsOf({ all: [ok] })).toEqual([
      { field: 'rule.all[0].not.not.not.not.not', reason: `nests deeper than ${MAX_RULE_DEPTH} levels of all / any / not` },
    ]);
  });
});
