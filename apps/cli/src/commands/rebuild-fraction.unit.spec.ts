import { rebuildFraction } from './rebuild.command';

describe('rebuildFraction (the CLI progress bar of cem rebuild)', () => {
  it('counts the work of every read model: the first of six done is a sixth, not 0% (the slowest position)', () => {
    // six read models of a 1,000-position log, projected one after another: one done, the others at 0
    const p = { events: 1_000, eventsPerSecond: 500, etaSeconds: 10, position: 0, targetPosition: 1_000 };
    expect(rebuildFraction(p)).toBeCloseTo(1_000 / 6_000, 5);
  });

  it('falls back to position / target before a rate is known, and is 1 for an empty log', () => {
    expect(rebuildFraction({ events: 0, eventsPerSecond: 0, etaSeconds: null, position: 250, targetPosition: 1_000 })).toBe(0.25);
    expect(rebuildFraction({ events: 0, eventsPerSecond: 0, etaSeconds: null, position: 0, targetPosition: 0 })).toBe(1);
  });

  it('is 1 once nothing is owed (caught up)', () => {
    expect(rebuildFraction({ events: 6_000, eventsPerSecond: 500, etaSeconds: 0, position: 1_000, targetPosition: 1_000 })).toBe(1);
  });
});
