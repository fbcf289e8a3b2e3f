import { compileDateParser, DateFormatError, shiftInstant } from './dates';

const iso = (parse: ReturnType<typeof compileDateParser>, text: string) => {
  const r = parse(text);
  return r.ok ? new Date(r.ms).toISOString() : `error: ${r.reason}`;
};

describe('date parsing', () => {
  it('reads compact and separated patterns in UTC by default', () => {
    expect(iso(compileDateParser('YYYYMMDD'), '19970101')).toBe('1997-01-01T00:00:00.000Z');
    expect(iso(compileDateParser('YYYY/MM/DD HH:mm:ss.SSS'), '2016/03/04 13:14:15.678')).toBe('2016-03-04T13:14:15.678Z');
    expect(iso(compileDateParser('D.M.YYYY H:mm'), '4.3.2016 7:05')).toBe('2016-03-04T07:05:00.000Z');
    expect(iso(compileDateParser('YYYY-MM-DD[T]HH:mm:ssZ'), '2016-03-04T13:14:15+01:00')).toBe('2016-03-04T12:14:15.000Z');
  });

  it('reads wall times in an IANA zone, across daylight saving time', () => {
    const ny = compileDateParser('YYYYMMDD HH:mm', 'America/New_York');
    expect(iso(ny, '19970101 00:00')).toBe('1997-01-01T05:00:00.000Z'); // EST
    expect(iso(ny, '19970701 00:00')).toBe('1997-07-01T04:00:00.000Z'); // EDT
    const ams = compileDateParser('YYYY-MM-DD HH:mm', 'Europe/Amsterdam');
    expect(iso(ams, '2024-03-31 02:30')).toBe('2024-03-31T01:30:00.000Z'); // skipped hour: moved past the jump
    expect(iso(ams, '2024-10-27 02:30')).toBe('2024-10-27T00:30:00.000Z'); // repeated hour: the earlier instant
    expect(iso(compileDateParser('YYYYMMDD', '+05:30'), '20240101')).toBe('2023-12-31T18:30:00.000Z');
  });

  it('reads ISO-8601 and epoch numbers', () => {
    expect(iso(compileDateParser('iso'), '2024-05-06T07:08:09.5+02:00')).toBe('2024-05-06T05:08:09.500Z');
    expect(iso(compileDateParser('iso', 'Europe/Amsterdam'), '2024-05-06 07:08')).toBe('2024-05-06T05:08:00.000Z');
    expect(iso(compileDateParser('epoch-ms'), '1700000000123')).toBe('2023-11-14T22:13:20.123Z');
    expect(iso(compileDateParser('epoch-s'), '1700000000')).toBe('2023-11-14T22:13:20.000Z');
  });

  it('explains unparseable dates', () => {
    const p = compileDateParser('YYYYMMDD');
    expect(iso(p, '1997-01-01')).toBe('error: does not match the format YYYYMMDD');
    expect(iso(p, '19971301')).toBe('error: has month 13');
    expect(iso(p, '19970231')).toBe('error: has day 31, but that month has 28');
    expect(iso(compileDateParser('epoch-ms'), 'yesterday')).toBe('error: is not epoch milliseconds');
    expect(iso(compileDateParser('YYYY-MM-DD HH:mm'), '2024-01-01 24:00')).toBe('error: has a time outside 00:00:00-23:59:59');
  });

  it('refuses bad formats and zones', () => {
    expect(() => compileDateParser('MM/DD')).toThrow(DateFormatError);
    expect(() => compileDateParser('YYYY-MM-DD hh')).toThrow(/"h" is not a token/);
    expect(() => compileDateParser('YYYYMMDD', 'Mars/Olympus')).toThrow(/not a time zone/);
  });

  it('shifts by calendar months, clamping to the month end', () => {
    const jan31 = Date.parse('2018-01-31T00:00:00Z');
    expect(new Date(shiftInstant(jan31, 'months', 1)).toISOString()).toBe('2018-02-28T00:00:00.000Z');
    expect(new Date(shiftInstant(Date.parse('2018-02-01T00:00:00Z'), 'months', -72)).toISOString()).toBe('2012-02-01T00:00:00.000Z');
    expect(new Date(shiftInstant(jan31, 'days', -31)).toISOString()).toBe('2017-12-31T00:00:00.000Z');
  });
});
