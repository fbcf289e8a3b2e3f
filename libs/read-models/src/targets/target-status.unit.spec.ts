import { evaluateTarget, targetHistory, type TargetPoint } from './target-status';

const month = (m: number, value: number | null): TargetPoint => ({
  start: new Date(Date.UTC(2026, m, 1)).toISOString(),
  end: new Date(Date.UTC(2026, m + 1, 1)).toISOString(),
  value,
});
const at = (iso: string) => Date.parse(iso);

describe('target status method', () => {
  const atLeast40 = { direction: 'at-least' as const, threshold: 40 };
  // Jan..Jun, due in June
  const rising = [month(0, 34), month(1, 36), month(2, 38), month(3, null), month(4, null), month(5, null)];

  it('is on track when the least-squares trend through 3+ complete buckets meets the threshold by the due bucket', () => {
    const e = evaluateTarget(atLeast40, rising, at('2026-04-10T00:00:00Z'));
    // +2 per month, midpoints ~30 days apart: June's end is ~4.5 months after February's midpoint
    expect(e).toMatchObject({ status: 'on-track', current: 38, points: 3 });
    expect(e.projected!).toBeGreaterThan(44);
    expect(e.slopePer30Days!).toBeCloseTo(2 * (30 / 29.75), 1);
  });

  it('is at risk when the trend does not reach it, or with no data', () => {
    const falling = [month(0, 39), month(1, 37), month(2, 35), month(3, null)];
    expect(evaluateTarget(atLeast40, falling, at('2026-04-01T00:00:00Z')).status).toBe('at-risk');
    expect(evaluateTarget(atLeast40, [month(0, null), month(1, null)], at('2026-02-01T00:00:00Z'))).toMatchObject({
      status: 'at-risk',
      points: 0,
    });
  });

  it('reads only complete buckets, and the latest value alone when fewer than 3', () => {
    expect(evaluateTarget(atLeast40, [month(0, 45), month(1, 10), month(2, null)], at('2026-01-31T00:00:00Z'))).toMatchObject({
      status: 'at-risk',
      points: 0,
    });
    expect(evaluateTarget(atLeast40, [month(0, 45), month(1, 10), month(2, null)], at('2026-02-01T00:00:00Z'))).toMatchObject({
      status: 'on-track',
      current: 45,
      points: 1,
    });
  });

  it('is met or missed on the due bucket once it is complete, whatever came before', () => {
    expect(evaluateTarget(atLeast40, [month(0, 20), month(1, 40)], at('2026-03-01T00:00:00Z')).status).toBe('met');
    expect(evaluateTarget(atLeast40, [month(0, 60), month(1, 39.9)], at('2026-03-01T00:00:00Z')).status).toBe('missed');
    expect(evaluateTarget(atLeast40, [month(0, 60), month(1, null)], at('2026-03-01T00:00:00Z')).status).toBe('missed');
    expect(evaluateTarget({ direction: 'at-most', threshold: 300 }, [month(0, 280)], at('2026-02-01T00:00:00Z')).status).toBe('met');
  });

  it('gives the status at the end of each complete bucket as its history', () => {
    const history = targetHistory(atLeast40, rising, at('2026-04-10T00:00:00Z'));
    expect(history.map((h) => [h.at.slice(0, 10), h.status, h.points])).toEqual([
      ['2026-02-01', 'at-risk', 1],
      ['2026-03-01', 'at-risk', 2],
      ['2026-04-01', 'on-track', 3],
    ]);
  });
});
