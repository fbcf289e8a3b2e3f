import { parseDecimal, renderDecimal, sumDecimals } from './decimals';

describe('exact decimal sums (duplicates: "sum" of lookups)', () => {
  it('adds without floating-point drift', () => {
    expect(0.1 + 0.2).not.toBe(0.3); // what the sum must not do
    expect(sumDecimals(['0.1', '0.2'])).toEqual({ ok: true, value: '0.3' });
    expect(sumDecimals(['10.5', '3', '7'])).toEqual({ ok: true, value: '20.5' });
    expect(sumDecimals(['1.0001', '2.9999'])).toEqual({ ok: true, value: '4' });
    expect(sumDecimals(['-0.75', '0.25'])).toEqual({ ok: true, value: '-0.5' });
    expect(sumDecimals(['.5', '5.', '+1'])).toEqual({ ok: true, value: '6.5' });
    expect(sumDecimals([])).toEqual({ ok: true, value: '0' });
  });

  it('many 2-decimal values add up to the sum of their cents', () => {
    const values: string[] = [];
    let cents = 0;
    let float = 0;
    for (let i = 0; i < 10_000; i++) {
      const c = (i * 7919) % 100_000;
      cents += c;
      float += c / 100;
      values.push(`${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`);
    }
    const r = sumDecimals(values);
    expect(r).toEqual({ ok: true, value: renderDecimal(BigInt(cents), 2) });
    expect(float.toFixed(10)).not.toBe(Number((r as { value: string }).value).toFixed(10)); // float drifts, the sum does not
  });

  it('reads the decimal mark and thousands separator of the value, and writes the decimal mark back', () => {
    expect(sumDecimals(['1.234,5', '0,5'], { decimal: ',', thousands: '.' })).toEqual({ ok: true, value: '1235' });
    expect(sumDecimals(['0,1', '0,25'], { decimal: ',' })).toEqual({ ok: true, value: '0,35' });
    expect(parseDecimal('1,23,4', { thousands: ',' })).toBeUndefined();
  });

  it('names the first value that is not a plain decimal number', () => {
    expect(sumDecimals(['1', 'n/a', 'x'])).toEqual({ ok: false, index: 1, reason: 'is not a number' });
    expect(sumDecimals(['1', ' '])).toEqual({ ok: false, index: 1, reason: 'is empty' });
    for (const bad of ['1e3', '1.2.3', '-', '.', '0x10', 'Infinity', '1,5']) expect(parseDecimal(bad)).toBeUndefined();
  });
});
