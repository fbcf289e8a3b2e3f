import { addToBins, binOf, percentileOf, RELATIVE_ACCURACY, type Bins } from './quantile-bins';
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
  });
});
