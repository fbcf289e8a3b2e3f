/**
 * Exact addition of decimal texts (no binary floating point): each value is read as an integer of
 * units at its own number of decimal places, all are scaled to the largest, added as BigInt and the
 * total is written back as a plain decimal text (`0.1` + `0.2` is `0.3`).
 */

export type DecimalSum = { ok: true; value: string } | { ok: false; index: number; reason: string };

export interface DecimalFormat {
  /** decimal mark (default `.`) */
  decimal?: string;
  /** thousands separator to drop (default none) */
  thousands?: string;
}

const PLAIN = /^([+-]?)(\d*)(?:\.(\d*))?$/;

/** `text` as units and decimal places, or undefined when it is not a plain decimal number. */
export function parseDecimal(text: string, format: DecimalFormat = {}): { units: bigint; scale: number } | undefined {
  let t = text.trim();
  const decimal = format.decimal ?? '.';
  if (format.thousands && t.includes(format.thousands)) {
    const [int] = t.replace(/^[+-]/, '').split(decimal);
    const groups = int.split(format.thousands);
    if (!(groups[0].length >= 1 && groups[0].length <= 3 && groups.slice(1).every((g) => /^\d{3}$/.test(g)))) return undefined;
    t = t.split(format.thousands).join('');
  }
  if (decimal !== '.') {
    if (t.includes('.')) return undefined;
    t = t.replace(decimal, '.');
  }
  const m = PLAIN.exec(t);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const frac = m[3] ?? '';
  const units = BigInt(`${m[2] || '0'}${frac}`);
  return { units: m[1] === '-' ? -units : units, scale: frac.length };
}

/** Adds the texts exactly; the first one that is not a number is named by its index. */
export function sumDecimals(texts: readonly string[], format: DecimalFormat = {}): DecimalSum {
  let total = 0n;
  let scale = 0;
  for (const [index, text] of texts.entries()) {
    const d = parseDecimal(text, format);
    if (!d) return { ok: false, index, reason: text.trim() === '' ? 'is empty' : 'is not a number' };
    if (d.scale > scale) {
      total *= 10n ** BigInt(d.scale - scale);
      scale = d.scale;
    }
    total += d.units * 10n ** BigInt(scale - d.scale);
  }
  return { ok: true, value: renderDecimal(total, scale, format.decimal ?? '.') };
}

/** units / 10^scale as a plain decimal text without trailing zeros (`-0.5`, `12`, `0.3`). */
export function renderDecimal(units: bigint, scale: number, decimal = '.'): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale).replace(/0+$/, '');
  return `${negative ? '-' : ''}${int}${frac ? `${decimal}${frac}` : ''}`;
}
