/** Text-to-number and text-to-boolean conversions of export cells, with reasons a person can act on. */

export type Converted = { ok: true; value: unknown } | { ok: false; reason: string };

const PLAIN_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export interface NumberFormat {
  /** decimal mark (default `.`) */
  decimal?: string;
  /** thousands separator to drop (default none: `1,234` is refused rather than guessed) */
  thousands?: string;
  integer?: boolean;
}

export function convertNumber(x: unknown, format: NumberFormat = {}): Converted {
  let n: number;
  if (typeof x === 'number') n = x;
  else if (typeof x === 'string') {
    let t = x.trim();
    if (format.thousands) t = groupedOk(t, format.thousands, format.decimal ?? '.') ? t.split(format.thousands).join('') : t;
    if (format.decimal && format.decimal !== '.') t = t.includes('.') ? `${t}!` : t.replace(format.decimal, '.');
    if (!PLAIN_NUMBER.test(t)) {
      const hint =
        !format.thousands && /^\d{1,3}([,.' ]\d{3})+([.,]\d+)?$/.test(x.trim())
          ? ' (it has a thousands separator: set "thousands" and "decimal" on this value)'
          : format.thousands
            ? ` (expected digits grouped by "${format.thousands}" with decimal mark "${format.decimal ?? '.'}")`
            : '';
      return { ok: false, reason: `is not a number${hint}` };
    }
    n = Number(t);
  } else return { ok: false, reason: 'is not a number' };
  if (!Number.isFinite(n)) return { ok: false, reason: 'is not a finite number' };
  if (format.integer && !Number.isInteger(n)) return { ok: false, reason: 'is not a whole number' };
  return { ok: true, value: n };
}

/** `1,234,567.5` with `,` is grouped correctly; `1,23,4` is not (and is refused rather than misread). */
function groupedOk(t: string, sep: string, decimal: string): boolean {
  if (!t.includes(sep)) return true;
  const [int] = t.replace(/^[+-]/, '').split(decimal);
  const groups = int.split(sep);
  return groups[0].length >= 1 && groups[0].length <= 3 && groups.slice(1).every((g) => /^\d{3}$/.test(g));
}

const TRUE = new Set(['true', 'yes', 'y', '1', 't']);
const FALSE = new Set(['false', 'no', 'n', '0', 'f']);

export function convertBoolean(x: unknown): Converted {
  if (typeof x === 'boolean') return { ok: true, value: x };
  const t = String(x).trim().toLowerCase();
  if (TRUE.has(t)) return { ok: true, value: true };
  if (FALSE.has(t)) return { ok: true, value: false };
  return { ok: false, reason: 'is not a yes/no value (true/false, yes/no, y/n, 1/0; or give a "map")' };
}
