import { addToBins, binOf, percentileOf, percentilesOf, RELATIVE_ACCURACY, type Bins } from './quantile-bins';
import { BucketNamer, bucketOfDate, bucketsBetween, nextBucket, startOfLocalDate } from './time-buckets';

describe('reporting buckets', () => {
  it('names the local day, ISO week and month of an instant in the reporting time zone', () => {
    const berlin = new BucketNamer('Europe/Berlin');
    expect(berlin.of('2026-03-28T23:30:00.000Z')).toEqual({ day: '2026-03-29', week: '2026-03-23', month: '2026-03-01' });
    expect(berlin.of('2026-03-29T22:30:00.000Z')).toEqual({ day: '2026-03-30', week: '2026-03-30', month: '2026-03-01' });
    expect(new BucketNamer('UTC').of('2026-03-28T23:30:00.000Z').day).toBe('2026-03-28');
    expect(() => new BucketNamer('Mars/Olympus')).toThrow(/unknown time zone/);
  });

  it('steps buckets on the calendar and gives their UTC bounds (23- and 25-hour days)', () => {
    expect(bucketOfDate('2026-03-01', 'week')).toBe('2026-02-23');
    expect(nextBucket('2026-12-01', 'month')).toBe('2027-01-01');
    expect(bucketsBetween('2026-01-15', '2026-04-01', 'month')).toEqual(['2026-01-01', '2026-02-01', '2026-03-01']);
    expect(startOfLocalDate('2026-03-29', 'Europe/Berlin')).toBe('2026-03-28T23:00:00Z');
    // years below 100 are years, not 1900 + year; a huge range stops one bucket past the limit
    expect(nextBucket('0042-12-31', 'day')).toBe('0043-01-01');
    expect(bucketsBetween('0001-01-01', '9999-12-31', 'day', 1000)).toHaveLength(1001);
    expect(startOfLocalDate('2026-03-30', 'Europe/Berlin')).toBe('2026-03-29T22:00:00Z');
  });
});

describe('percentile bins', () => {
  it('gives the nearest-rank percentile within the relative accuracy, and forgets a removed value', () => {
    const values = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % 1000) * 3.7);
    const bins: Bins = {};
    for (const v of values) addToBins(bins, binOf(v), 1);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of [0.5, 0.9, 0.99]) {
      const exact = sorted[Math.ceil(p * sorted.length) - 1];
      expect(Math.abs(percentileOf(bins, p)! - exact)).toBeLessThanOrEqual(RELATIVE_ACCURACY * exact);
    }
    const one: Bins = {};
    addToBins(one, binOf(0), 1);
    addToBins(one, binOf(100), 1);
    addToBins(one, binOf(100), -1);
    expect(one).toEqual({ z: 1 });
    expect(percentileOf(one, 0.5)).toBe(0);
    expect(percentileOf({}, 0.5)).toBeNull();
    // several percentiles of one sort are each the single one
    expect(percentilesOf(bins, [0.9, 0.5, 0.99])).toEqual([percentileOf(bins, 0.9), percentileOf(bins, 0.5), percentileOf(bins, 0.99)]);
    expect(percentilesOf({}, [0.5, 0.9])).toEqual([null, null]);
    // exact against the sorted values for p50 / p90 (the bins' relative accuracy)
    const [p50, p90] = percentilesOf(bins, [0.5, 0.9]);
    expect(Math.abs(p50! - sorted[499])).toBeLessThanOrEqual(RELATIVE_ACCURACY * sorted[499]);
    expect(Math.abs(p90! - sorted[899])).toBeLessThanOrEqual(RELATIVE_ACCURACY * sorted[899]);
  });
});

describe('bucketsBetween', () => {
  it('lists the same buckets as stepping nextBucket from the bucket of `from`, for every granularity, across years and leap days', () => {
    const stepped = (from: string, to: string, g: 'day' | 'week' | 'month') => {
      const out: string[] = [];
      for (let b = bucketOfDate(from, g); b < to; b = nextBucket(b, g)) out.push(b);
      return out;
    };
    const ranges: [string, string][] = [
      ['2023-12-17', '2025-03-02'],
      ['2024-02-28', '2024-03-02'],
      ['0099-12-30', '0100-01-10'],
      ['2026-01-31', '2026-01-31'],
      ['2026-01-31', '2026-02-01'],
    ];
    for (const [from, to] of ranges)
      for (const g of ['day', 'week', 'month'] as const)
        expect([from, to, g, bucketsBetween(from, to, g)]).toEqual([from, to, g, stepped(from, to, g)]);
    expect(bucketsBetween('2025-01-01', '2026-01-01', 'day')).toHaveLength(365);
    expect(bucketsBetween('2024-02-27', '2024-03-02', 'day')).toEqual(['2024-02-27', '2024-02-28', '2024-02-29', '2024-03-01']);
  });
});
