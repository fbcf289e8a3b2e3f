import { isCalendarDate, parseIsoInstant } from './values';

/**
 * The reference: the calendar as Date knows it (a day exists when Date's round trip keeps it), and
 * the instant as Date computes it. parseIsoInstant does the same arithmetically (it runs per event).
 */
function reference(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi] = [1, 2, 3, 4, 5].map((i) => Number(m[i]));
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, m[7] === undefined ? 0 : Number(m[7].slice(1, 4).padEnd(3, '0')));
  const kept = date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
  if (!kept || h > 23 || mi > 59 || s > 59) return undefined;
  if (m[8] === 'Z') return date.getTime();
  const [oh, om] = [Number(m[10]), Number(m[11])];
  if (oh > 23 || om > 59) return undefined;
  return date.getTime() - (m[9] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
}

describe('parseIsoInstant', () => {
  it('agrees with Date on leap days, month ends, years below 100 and offsets', () => {
    for (const text of [
      '2024-02-29T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '1900-02-29T12:00:00Z',
      '2000-02-29T12:00:00+01:00',
      '0000-02-29T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '0099-12-31T23:59:59.999Z',
      '2026-04-31T10:00:00Z',
      '2026-12-31T23:59:59.123456789-11:30',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T10:60:00Z',
      '2026-01-01T10:00:60Z',
      '2026-01-01T10:00:00+24:00',
      '2026-01-01T10:00Z',
      '2026-01-01T10:00:00',
      '2026-01-01T10:00:0aZ',
      '2026-01-01 10:00:00Z',
      '2026-01-01T10:00:00,123Z',
      '2026-01-01T10:00:00.12xZ',
      '+026-01-01T10:00:00.123Z',
      '0050-06-15T10:00:00.123Z',
    ])
      expect([text, parseIsoInstant(text)]).toEqual([text, reference(text)]);
    expect(parseIsoInstant('2024-02-29T00:00:00Z')).toBe(Date.parse('2024-02-29T00:00:00Z'));
    expect(parseIsoInstant('2023-02-29T00:00:00Z')).toBeUndefined();
  });

  it('agrees with Date on 20,000 generated instants, existing or not', () => {
    let seed = 42;
    const r = (lo: number, hi: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return lo + (seed % (hi - lo + 1));
    };
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    for (let i = 0; i < 20_000; i++) {
      const year = i % 5 === 0 ? r(0, 120) : i % 7 === 0 ? r(0, 9999) : r(1890, 2110);
      const offset = i % 2 ? 'Z' : `${i % 4 ? '+' : '-'}${pad(r(0, 24), 2)}:${pad(r(0, 60), 2)}`;
      const text = `${pad(year, 4)}-${pad(r(0, 13), 2)}-${pad(r(0, 32), 2)}T${pad(r(0, 24), 2)}:${pad(r(0, 60), 2)}:${pad(r(0, 60), 2)}.${pad(r(0, 999), 3)}${offset}`;
      if (parseIsoInstant(text) !== reference(text)) expect([text, parseIsoInstant(text)]).toEqual([text, reference(text)]);
      const date = text.slice(0, 10);
      if (isCalendarDate(date) !== (reference(`${date}T00:00:00Z`) !== undefined)) expect(date).toBe('a date Date agrees on');
    }
  });
});
