/*
 * The strict value rules every edge shares (HTTP bodies and queries, Kafka, files): dates that exist
 * on the calendar and money the projections can sum exactly. One check each, so the fast validation
 * path, class-validator and the projections can never disagree.
 */

/** ISO-8601 instant with an explicit offset (Z or ±hh:mm): a time without a zone is ambiguous. */
export const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|([+-])(\d{2}):(\d{2}))$/;
/** ISO-8601 calendar date (a birth date). */
export const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The proleptic Gregorian calendar's rule (what Date uses for every year, 0000 included). */
const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** Whether the calendar has this day (2026-02-30 and 2026-13-01 do not exist); arithmetic, no Date made. */
const isRealDay = (year: number, month: number, day: number): boolean =>
  month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]);

/**
 * Epoch milliseconds of an ISO-8601 instant with an offset, or undefined when it is not one or names a
 * time that does not exist (2026-02-30, 24:00, :60, an offset beyond ±23:59). Never moves a date.
 * Fractions beyond milliseconds are truncated. Runs for every ingested event: no Date object unless
 * the year is below 100 (which Date.UTC would read as 19xx).
 */
export function parseIsoInstant(text: string): number | undefined {
  // the form nearly every sender uses (toISOString's), read without a regex match (which allocates a
  // string per group); anything else takes the general path below
  if ((text.length === 24 || text.length === 20) && text.charCodeAt(text.length - 1) === 90 /* Z */) {
    const utc = utcOfIsoZ(text);
    if (utc !== undefined) return utc;
  }
  const m = ISO_INSTANT.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (!isRealDay(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(1, 4).padEnd(3, '0'));
  let utc: number;
  if (year >= 100) utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  else {
    const d = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
    d.setUTCFullYear(year);
    utc = d.getTime();
  }
  return utc - offsetMinutes * 60_000;
}

/** two ASCII digits at `at` as a number, or -1 */
const twoDigits = (text: string, at: number): number => {
  const a = text.charCodeAt(at) - 48;
  const b = text.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
};

/**
 * `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ` (the caller checked the length and the Z):
 * epoch milliseconds, or undefined when the text is not exactly that shape or names no real instant
 * (then the general path gives the verdict). Same results as the regex path on these shapes.
 */
function utcOfIsoZ(text: string): number | undefined {
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84) return undefined; // - - T
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined; // : :
  const hi = twoDigits(text, 0);
  const lo = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  let ms = 0;
  if (text.length === 24) {
    if (text.charCodeAt(19) !== 46) return undefined; // .
    const a = twoDigits(text, 20);
    const b = text.charCodeAt(22) - 48;
    if (a < 0 || b < 0 || b > 9) return undefined;
    ms = a * 10 + b;
  }
  if (hi < 0 || lo < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  const year = hi * 100 + lo;
  if (year < 100 || !isRealDay(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** True for a YYYY-MM-DD date that exists on the (proleptic Gregorian) calendar. */
export function isCalendarDate(text: string): boolean {
  const m = ISO_DATE.exec(text);
  return m !== null && isRealDay(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** Largest money amount accepted, in major units. Below 2^38, 4 decimals survive the JSON double exactly. */
export const MAX_MONEY_AMOUNT = 100_000_000_000;
/** Decimal places a money amount may have: the projections sum in 1/10,000 of the major unit. */
export const MONEY_DECIMALS = 4;
const MONEY_TEXT = /^\d{1,12}(\.\d{1,4})?$/;

/**
 * A money amount: a number from 0 to MAX_MONEY_AMOUNT with at most 4 decimal places, judged on the
 * number's shortest decimal form (so 1e-7, 1e21 and 0.00001 are refused, not rounded).
 */
export const isMoneyAmount = (value: unknown): value is number =>
  typeof value === 'number' && value >= 0 && value <= MAX_MONEY_AMOUNT && MONEY_TEXT.test(String(value));

export const MONEY_RULE = `a number from 0 to ${MAX_MONEY_AMOUNT} with at most ${MONEY_DECIMALS} decimal places`;

/** Why a value is not a money amount (the most specific reason), or undefined when it is one. */
export function moneyAmountProblem(value: unknown): string | undefined {
  if (isMoneyAmount(value)) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) return `must be ${MONEY_RULE}`;
  if (value < 0) return 'must not be less than 0';
  if (value > MAX_MONEY_AMOUNT) return `must not be greater than ${MAX_MONEY_AMOUNT}`;
  return `must have at most ${MONEY_DECIMALS} decimal places`;
}
