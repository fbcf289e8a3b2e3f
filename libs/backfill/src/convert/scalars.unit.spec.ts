import { convertBoolean, convertNumber } from './scalars';

describe('number and boolean cells', () => {
  it('reads plain numbers', () => {
    expect(convertNumber('12.50')).toEqual({ ok: true, value: 12.5 });
    expect(convertNumber(' -3 ')).toEqual({ ok: true, value: -3 });
    expect(convertNumber(7)).toEqual({ ok: true, value: 7 });
  });

  it('refuses thousands separators unless the mapping declares them, and says so', () => {
    const r = convertNumber('1,234.50');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/thousands separator: set "thousands"/);
    expect(convertNumber('1,234.50', { thousands: ',' })).toEqual({ ok: true, value: 1234.5 });
    expect(convertNumber('1.234,50', { thousands: '.', decimal: ',' })).toEqual({ ok: true, value: 1234.5 });
    expect(convertNumber('12,5', { decimal: ',' })).toEqual({ ok: true, value: 12.5 });
    expect(convertNumber('1,23,4', { thousands: ',' }).ok).toBe(false); // badly grouped: not guessed
  });

  it('checks whole numbers', () => {
    expect(convertNumber('3', { integer: true })).toEqual({ ok: true, value: 3 });
    expect(convertNumber('3.5', { integer: true })).toEqual({ ok: false, reason: 'is not a whole number' });
    expect(convertNumber('', { integer: true }).ok).toBe(false);
  });

  it('reads yes/no values', () => {
    expect(convertBoolean('Yes')).toEqual({ ok: true, value: true });
    expect(convertBoolean('0')).toEqual({ ok: true, value: false });
    expect(convertBoolean('maybe').ok).toBe(false);
  });
});
