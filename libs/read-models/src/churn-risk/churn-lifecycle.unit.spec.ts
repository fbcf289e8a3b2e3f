import { emptyChurnFacts, type ChurnFacts, type SubscriptionMark } from './churn-facts';
import { isLiveAt, lifecycleStageAt } from './churn-lifecycle';

/** A tiny deterministic PRNG: the same "random" facts every run. */
const rng = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const DAY = 86_400_000;
const MARKS: SubscriptionMark[] = ['start', 'upgrade', 'cancel', 'other'];

/** Random sorted facts around `base`: touches, purchases and subscriptions over about two years. */
function randomFacts(next: () => number, base: number): ChurnFacts {
  const facts = emptyChurnFacts('c');
  const instant = () => base + Math.floor(next() * 700) * DAY + (next() < 0.5 ? 0 : Math.floor(next() * DAY));
  const count = (max: number) => Math.floor(next() * max);
  facts.touches = [...new Set(Array.from({ length: count(12) }, instant))].sort((a, b) => a - b);
  facts.purchases = Array.from({ length: count(4) }, () => [instant(), 10] as [number, number]).sort((a, b) => a[0] - b[0]);
  facts.subscriptions = Array.from(
    { length: count(5) },
    () => [instant(), MARKS[count(MARKS.length)], `s${count(2)}`] as [number, SubscriptionMark, string],
  ).sort((a, b) => a[0] - b[0]);
  return facts;
}

describe('isLiveAt', () => {
  it('says live exactly when lifecycleStageAt says neither prospect nor churned, at every instant where it can change', () => {
    const next = rng(11);
    let compared = 0;
    let live = 0;
    const differing: number[] = [];
    // the last base puts instants past the year 9999, where the ISO strings compare otherwise (lifecycleStageAt decides there)
    for (const base of [Date.parse('2025-01-01T00:00:00Z'), Date.parse('9999-06-01T00:00:00Z')]) {
      for (let i = 0; i < 400; i++) {
        const facts = randomFacts(next, base);
        const instants = [...facts.touches, ...facts.purchases.map((p) => p[0]), ...facts.subscriptions.map((s) => s[0])];
        for (const at of instants)
          for (const asOf of [at, at + 1, at + 180 * DAY, at + 180 * DAY + 1, at + 60 * DAY]) {
            const stage = lifecycleStageAt(facts, asOf);
            if (isLiveAt(facts, asOf) !== (stage !== 'prospect' && stage !== 'churned')) differing.push(asOf);
            compared++;
            if (stage !== 'prospect' && stage !== 'churned') live++;
          }
      }
    }
    expect(differing).toEqual([]);
    // both answers occur often: the comparison is not one-sided
    expect(live).toBeGreaterThan(compared / 10);
    expect(compared - live).toBeGreaterThan(compared / 10);
  });
});
