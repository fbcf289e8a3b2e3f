/**
 * Date-time parsing for exports whose dates nobody designed for us: a compiled pattern per mapping
 * (`YYYYMMDD`, `YYYY/MM/DD HH:mm:ss.SSS`, ...), ISO-8601, or epoch numbers, read as wall time in an
 * IANA time zone or a fixed offset. Pure and fast (one regex per value, zone offsets memoised), so a
 * million rows do not pay for a general-purpose date library.
 */

export type DateParser = (text: string) => { ok: true; ms: number } | { ok: false; reason: string };

/** `iso`, `epoch-ms`, `epoch-s`, or a pattern of the tokens below; other characters are literal, `[...]` quotes. */
export const DATE_TOKENS = ['YYYY', 'MM', 'M', 'DD', 'D', 'HH', 'H', 'mm', 'ss', 'SSS', 'S', 'Z'] as const;

const TOKEN_RE: Record<string, string> = {
  YYYY: '(\\d{4})',
  MM: '(\\d{2})',
  M: '(\\d{1,2})',
  DD: '(\\d{2})',
  D: '(\\d{1,2})',
  HH: '(\\d{2})',
  H: '(\\d{1,2})',
  mm: '(\\d{2})',
  ss: '(\\d{2})',
  SSS: '(\\d{3})',
  S: '(\\d{1,9})',
  Z: '(Z|[+-]\\d{2}:?\\d{2})',
};
const FIELD_OF: Record<string, 'y' | 'mo' | 'd' | 'h' | 'mi' | 's' | 'f' | 'z'> = {
  YYYY: 'y',
  MM: 'mo',
  M: 'mo',
  DD: 'd',
  D: 'd',
  HH: 'h',
  H: 'h',
  mm: 'mi',
  ss: 's',
  SSS: 'f',
  S: 'f',
  Z: 'z',
};
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

export class DateFormatError extends Error {}

/** Validates a time zone: `UTC`, a fixed offset `+01:00`, or an IANA name such as `America/New_York`. */
export function checkTimeZone(zone: string): string | undefined {
  if (zone === 'UTC' || zone === 'Z' || /^[+-]\d{2}:\d{2}$/.test(zone)) return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `"${zone}" is not a time zone: use UTC, an offset such as +01:00, or an IANA name such as Europe/Amsterdam`;
  }
}

/** Throws DateFormatError for a format without a year, month and day (or with an unknown shape). */
export function compileDateParser(format: string, timeZone = 'UTC'): DateParser {
  const zoneProblem = checkTimeZone(timeZone);
  if (zoneProblem) throw new DateFormatError(zoneProblem);
  const toUtc = zoneConverter(timeZone);

  if (format === 'epoch-ms' || format === 'epoch-s') {
    const scale = format === 'epoch-ms' ? 1 : 1000;
    return (text) => {
      const t = text.trim();
      if (!/^-?\d+(\.\d+)?$/.test(t))
        return { ok: false, reason: `is not ${format === 'epoch-ms' ? 'epoch milliseconds' : 'epoch seconds'}` };
      return { ok: true, ms: Math.round(Number(t) * scale) };
    };
  }
  if (format === 'iso') {
    return (text) => {
      const m = ISO.exec(text.trim());
      if (!m) return { ok: false, reason: 'is not an ISO-8601 date-time' };
      return assemble(+m[1], +m[2], +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), fraction(m[7]), m[8], toUtc);
    };
  }

  const fields: string[] = [];
  let pattern = '';
  for (let i = 0; i < format.length;) {
    if (format[i] === '[') {
      const end = format.indexOf(']', i);
      if (end < 0) throw new DateFormatError(`unclosed [ in "${format}"`);
      pattern += escapeRe(format.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    const token = DATE_TOKENS.find((t) => format.startsWith(t, i));
    if (token) {
      fields.push(FIELD_OF[token]);
      pattern += TOKEN_RE[token];
      i += token.length;
    } else {
      pattern += /[A-Za-z]/.test(format[i]) ? failLetter(format, format[i]) : escapeRe(format[i]);
      i++;
    }
  }
  for (const needed of ['y', 'mo', 'd']) {
    if (!fields.includes(needed))
      throw new DateFormatError(`"${format}" has no ${needed === 'y' ? 'YYYY' : needed === 'mo' ? 'MM' : 'DD'}`);
  }
  if (new Set(fields).size !== fields.length) throw new DateFormatError(`"${format}" names a part twice`);
  const re = new RegExp(`^${pattern}$`);
  return (text) => {
    const m = re.exec(text.trim());
    if (!m) return { ok: false, reason: `does not match the format ${format}` };
    const v: Record<string, string | undefined> = {};
    fields.forEach((f, i) => (v[f] = m[i + 1]));
    return assemble(+v.y!, +v.mo!, +v.d!, +(v.h ?? 0), +(v.mi ?? 0), +(v.s ?? 0), fraction(v.f), v.z, toUtc);
  };
}

function failLetter(format: string, letter: string): never {
  throw new DateFormatError(`"${format}": "${letter}" is not a token (tokens: ${DATE_TOKENS.join(' ')}; quote literal text in [ ])`);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const fraction = (f: string | undefined) => (f ? Math.round(Number(`0.${f}`) * 1000) : 0);

function assemble(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
  offset: string | undefined,
  toUtc: (wall: number) => number,
): { ok: true; ms: number } | { ok: false; reason: string } {
  if (mo < 1 || mo > 12) return { ok: false, reason: `has month ${mo}` };
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d < 1 || d > days) return { ok: false, reason: `has day ${d}, but that month has ${days}` };
  if (h > 23 || mi > 59 || s > 59) return { ok: false, reason: 'has a time outside 00:00:00-23:59:59' };
  const wall = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (y < 100) return { ok: false, reason: `has year ${y}` };
  if (offset) return { ok: true, ms: wall - offsetMinutes(offset) * 60_000 };
  return { ok: true, ms: toUtc(wall) };
}

function offsetMinutes(z: string): number {
  if (z === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(z)!;
  return (m[1] === '-' ? -1 : 1) * (+m[2] * 60 + +m[3]);
}

/**
 * Maps a wall-clock time (as if UTC) in `zone` to the real instant. A wall time that a DST jump skips
 * is moved forward by the jump; one that occurs twice (fall back) takes the earlier instant.
 */
export function zoneConverter(zone: string): (wall: number) => number {
  if (zone === 'UTC' || zone === 'Z') return (wall) => wall;
  if (/^[+-]\d{2}:\d{2}$/.test(zone)) {
    const off = offsetMinutes(zone) * 60_000;
    return (wall) => wall - off;
  }
  const offsetAt = zoneOffsetFn(zone);
  // at most one transition lies within a day of any wall time: try the offsets a day before and after
  return (wall) => {
    const before = wall - offsetAt(wall - 86_400_000);
    const after = wall - offsetAt(wall + 86_400_000);
    const valid = (c: number) => offsetAt(c) === wall - c;
    if (valid(before) && valid(after)) return Math.min(before, after);
    if (valid(after)) return after;
    return before; // valid, or in a gap: the pre-jump offset lands just after the jump
  };
}

/** Offset (ms, east positive) of `zone` at a UTC instant, memoised per quarter hour. */
function zoneOffsetFn(zone: string): (utc: number) => number {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const cache = new Map<number, number>();
  return (utc) => {
    const bucket = Math.floor(utc / 900_000);
    let off = cache.get(bucket);
    if (off === undefined) {
      const at = bucket * 900_000;
      const p: Record<string, number> = {};
      for (const part of fmt.formatToParts(at)) if (part.type !== 'literal') p[part.type] = +part.value;
      off = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - at;
      if (cache.size > 50_000) cache.clear(); // bounded: a huge file spanning decades must not grow it forever
      cache.set(bucket, off);
    }
    return off;
  };
}

export type ShiftUnit = 'years' | 'months' | 'days' | 'hours' | 'minutes' | 'seconds';
export const SHIFT_UNITS: readonly ShiftUnit[] = ['years', 'months', 'days', 'hours', 'minutes', 'seconds'];

/** Calendar arithmetic in UTC; months clamp to the month's last day (Jan 31 + 1 month = Feb 28/29). */
export function shiftInstant(ms: number, unit: ShiftUnit, amount: number): number {
  switch (unit) {
    case 'years':
      return shiftInstant(ms, 'months', amount * 12);
    case 'months': {
      const d = new Date(ms);
      const target = d.getUTCMonth() + amount;
      const y = d.getUTCFullYear() + Math.floor(target / 12);
      const mo = ((target % 12) + 12) % 12;
      const last = new Date(Date.UTC(y, mo + 1, 0)).getUTCDate();
      return Date.UTC(y, mo, Math.min(d.getUTCDate(), last), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
    }
    case 'days':
      return ms + amount * 86_400_000;
    case 'hours':
      return ms + amount * 3_600_000;
    case 'minutes':
      return ms + amount * 60_000;
    case 'seconds':
      return ms + amount * 1000;
  }
}
