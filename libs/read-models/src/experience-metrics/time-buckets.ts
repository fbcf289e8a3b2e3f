import { DateTime, IANAZone } from 'luxon';

/*
 * Reporting buckets: the local calendar day, ISO week (Monday to Sunday) and month of an instant in
 * the reporting time zone (IANA name; Luxon over Node's full ICU). A bucket is named by the local
 * date it starts on (`2026-03-29` for a day, the Monday for a week, `2026-03-01` for a month), so
 * names sort in time order as text. A bucket starts at local midnight: a day is 23 or 25 hours long
 * across a daylight-saving change, and an event belongs to the local day its occurredAt falls in.
 */

export const GRANULARITIES = ['day', 'week', 'month'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const isGranularity = (value: string): value is Granularity => (GRANULARITIES as readonly string[]).includes(value);

/** true for a time zone name the ICU data knows (`Europe/Berlin`, `UTC`); false for anything else */
export const isKnownTimeZone = (name: string): boolean => typeof name === 'string' && name.length <= 64 && IANAZone.isValidZone(name);

export interface LocalBuckets {
  day: string;
  week: string;
  month: string;
}

/** Names the buckets of an instant; a cache per quarter hour keeps Luxon off the hot path (every zone offset in use is a multiple of 15 minutes). */
export class BucketNamer {
  private readonly cache = new Map<number, LocalBuckets>();

  constructor(readonly timeZone: string) {
    if (!isKnownTimeZone(timeZone)) throw new Error(`unknown time zone '${timeZone}'`);
  }

  of(instant: string): LocalBuckets {
    const ms = Date.parse(instant);
    const slot = Math.floor(ms / 900_000);
    let named = this.cache.get(slot);
    if (!named) {
      if (this.cache.size > 50_000) this.cache.clear();
      const local = DateTime.fromMillis(ms, { zone: this.timeZone });
      named = { day: local.toISODate()!, week: local.startOf('week').toISODate()!, month: local.startOf('month').toISODate()! };
      this.cache.set(slot, named);
    }
    return named;
  }
}

// Local dates are calendar dates without a zone: their arithmetic is plain UTC date arithmetic.
const DAY_MS = 86_400_000;
// setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999
const utcDate = (y: number, monthIndex: number, day: number): number => new Date(0).setUTCFullYear(y, monthIndex, day);
const dateMs = (date: string): number => utcDate(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
const dateOf = (ms: number): string => {
  const d = new Date(ms);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')}`;
};

/** The bucket a local date falls in. */
export function bucketOfDate(date: string, granularity: Granularity): string {
  if (granularity === 'day') return date;
  if (granularity === 'month') return `${date.slice(0, 8)}01`;
  const ms = dateMs(date);
  return dateOf(ms - ((new Date(ms).getUTCDay() + 6) % 7) * DAY_MS);
}

/** The bucket after `bucket`. */
export function nextBucket(bucket: string, granularity: Granularity): string {
  if (granularity === 'day') return dateOf(dateMs(bucket) + DAY_MS);
  if (granularity === 'week') return dateOf(dateMs(bucket) + 7 * DAY_MS);
  const [y, m] = [Number(bucket.slice(0, 4)), Number(bucket.slice(5, 7))];
  return dateOf(utcDate(y, m, 1));
}

/**
 * Bucket names from the bucket holding `from` up to the last one starting before `to` (local dates,
 * `to` exclusive); at most `max` + 1 of them (enough to tell that a range is too wide, without
 * enumerating millions).
 */
export function bucketsBetween(from: string, to: string, granularity: Granularity, max = Number.MAX_SAFE_INTEGER): string[] {
  const out: string[] = [];
  // stepped in milliseconds, not by parsing each name again (nextBucket): a year of days is asked on every series
  let ms = dateMs(bucketOfDate(from, granularity));
  for (let b = dateOf(ms); b < to && out.length <= max; b = dateOf(ms)) {
    out.push(b);
    if (granularity === 'month') {
      const d = new Date(ms);
      ms = utcDate(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    } else ms += granularity === 'week' ? 7 * DAY_MS : DAY_MS;
  }
  return out;
}

/** The UTC instant a local date starts at, in the reporting time zone. */
export const startOfLocalDate = (date: string, timeZone: string): string =>
  DateTime.fromISO(date, { zone: timeZone }).startOf('day').toUTC().toISO({ suppressMilliseconds: true })!;

/** true for a real calendar date written YYYY-MM-DD */
export const isLocalDate = (value: string): boolean =>
  typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) && DateTime.fromISO(value, { zone: 'UTC' }).isValid;
