import { deterministicUuid, type FieldError } from '@cem/domain';
import { compileDateParser, shiftInstant, type ShiftUnit } from '../convert/dates';
import { convertNumber, convertBoolean } from '../convert/scalars';
import { isValueObject, MappingError, type MappingProblem } from './parse-mapping';
import type { Condition, EventRule, IdentifierSpec, MappingSpec, TransformStep, ValueObject, ValueSpec } from './mapping.types';
import { compileUserPattern } from './patterns';
import type { LookupIndex } from '../import/lookups';
import { sumDecimals } from '../convert/decimals';

/** One record of the input: a CSV row (`values`) or an NDJSON object (`object`). */
export interface SourceRow {
  /** line number of the record's first line (1-based, header included) */
  line: number;
  /** the record's text, for `$row` keys */
  text: string;
  values?: string[];
  object?: Record<string, unknown>;
}

/** A row's problem: which event rule, which field of the envelope, why. */
export interface RowError extends FieldError {
  event?: string;
}

export type RowOutcome =
  | { kind: 'filtered' }
  | { kind: 'events'; events: { rule: string; envelope: Record<string, unknown> }[] }
  | { kind: 'rejected'; errors: RowError[] };

export interface CompiledMapping {
  spec: MappingSpec;
  map(row: SourceRow): RowOutcome;
}

const OMIT = Symbol('omit');
const FAIL = Symbol('fail');
type Out = unknown | typeof OMIT | typeof FAIL;
interface Ctx {
  errors: RowError[];
  event?: string;
}
type Compiled = (row: SourceRow, ctx: Ctx) => Out;
type Cell = (row: SourceRow) => unknown;

const MAX_ECHO = 40;
const show = (v: unknown) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return JSON.stringify(s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}…` : s);
};

/**
 * Binds a parsed mapping to the file's columns (csv) or to dotted paths (ndjson): every column the
 * mapping names must exist, or the whole mapping is refused before any row is read.
 */
export function compileMapping(spec: MappingSpec, columns: string[] | undefined, lookups?: LookupIndex): CompiledMapping {
  const problems: MappingProblem[] = [];
  const indexOf = columns ? new Map(columns.map((c, i) => [c, i])) : undefined;

  const cell = (name: string, path: string): Cell => {
    if (name === '$line') return (row) => String(row.line);
    if (name === '$row') return (row) => row.text;
    if (name === '$source') return () => spec.source;
    if (!indexOf) {
      const parts = name.split('.');
      return (row) => {
        let cur: unknown = row.object;
        for (const p of parts) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
        return cur;
      };
    }
    const i = indexOf.get(name);
    if (i === undefined) {
      problems.push({ path, reason: `column "${name}" is not in the file; columns are: ${columns!.join(', ')}` });
      return () => undefined;
    }
    return (row) => row.values![i];
  };
  const columnLabel = (name: string) => (indexOf ? `column "${name}"` : `path "${name}"`);

  const value = (spec: ValueSpec, path: string, field: string, opts: { echo?: boolean; defaultType?: 'date' } = {}): Compiled => {
    if (!isValueObject(spec)) return () => spec;
    const v = spec as ValueObject;
    const echo = opts.echo ?? true;
    const nulls = new Set(v.nullValues ?? ['']);
    const hasDefault = 'default' in v;
    const type = v.type ?? (opts.defaultType && !('const' in v) ? opts.defaultType : undefined);
    const label = v.column ?? v.path ?? (v.template !== undefined ? 'the template' : 'the constant');
    const where =
      (v.column ?? v.path)
        ? columnLabel((v.column ?? v.path)!)
        : v.lookup
          ? `lookup "${v.lookup.from}" column "${v.lookup.column}" (by ${columnLabel(v.lookup.key)})`
          : v.concat
            ? `columns ${v.concat.map((c) => `"${c}"`).join(' + ')}`
            : label;
    let missReason: string | undefined;

    let raw: (row: SourceRow, ctx: Ctx) => unknown;
    if ('const' in v) raw = () => v.const;
    else if (v.template !== undefined) {
      const parts = v.template.split(/(\{[^{}]+\})/).filter((p) => p !== '');
      const pieces = parts.map((p) =>
        p.startsWith('{') && p.endsWith('}') ? { name: p.slice(1, -1), get: cell(p.slice(1, -1), `${path}.template`) } : p,
      );
      raw = (row) => {
        let out = '';
        for (const piece of pieces) {
          if (typeof piece === 'string') out += piece;
          else {
            const x = piece.get(row);
            if (x === undefined || x === null || nulls.has(String(x))) return undefined;
            out += String(x);
          }
        }
        return out;
      };
    } else if (v.concat !== undefined) {
      const parts = v.concat.map((c, i) => cell(c, `${path}.concat[${i}]`));
      const separator = v.separator ?? '';
      raw = (row) => {
        const texts: string[] = [];
        for (const get of parts) {
          const x = get(row);
          if (x === undefined || x === null || nulls.has(String(x))) continue;
          texts.push(typeof x === 'object' ? JSON.stringify(x) : String(x));
        }
        return texts.length === 0 ? undefined : texts.join(separator);
      };
    } else if (v.lookup !== undefined) {
      const l = v.lookup;
      const key = cell(l.key, `${path}.lookup.key`);
      if (!lookups)
        problems.push({ path: `${path}.lookup`, reason: 'lookups are indexed by an import (runImport); none is available here' });
      raw = (row, ctx) => {
        const x = key(row);
        const k = x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x);
        if (k === '') return undefined;
        const hit = lookups!.get(l.from, k);
        if (!hit) {
          missReason = `has no row for ${echo ? `key ${show(k)}` : 'this key'} in ${JSON.stringify(lookups!.fileOf(l.from))}`;
          return undefined;
        }
        const duplicates = lookups!.duplicates(l.from);
        if (duplicates === 'sum' && hit.all) {
          const rows = hit.all;
          const sum = sumDecimals(
            rows.map((r) => r.values[l.column] ?? ''),
            { decimal: v.decimal, thousands: v.thousands },
          );
          if (sum.ok) return sum.value;
          const bad = rows[sum.index];
          ctx.errors.push({
            event: ctx.event,
            field,
            reason: `${where}: ${echo ? `key ${show(k)}` : 'the key'}: line ${bad.line} of ${JSON.stringify(lookups!.fileOf(l.from))} has ${echo ? show(bad.values[l.column] ?? '') : 'a value'}, which ${sum.reason}; "sum" adds numbers only`,
          });
          return FAIL;
        }
        if (hit.rows > 1 && duplicates === 'error') {
          ctx.errors.push({
            event: ctx.event,
            field,
            reason: `${where}: ${echo ? `key ${show(k)}` : 'the key'} matches ${hit.rows} rows of ${JSON.stringify(lookups!.fileOf(l.from))}; set lookups.${l.from}.duplicates to "first", "last" or "sum" to choose`,
          });
          return FAIL;
        }
        return hit.values[l.column];
      };
    } else if (v.identifiers !== undefined) {
      const list = identifierList(v.identifiers, `${path}.identifiers`, field);
      raw = (row, ctx) => {
        const ids = list(row, ctx);
        return ids === FAIL ? FAIL : ids.length === 0 ? undefined : ids;
      };
    } else raw = cell((v.column ?? v.path)!, v.column !== undefined ? `${path}.column` : `${path}.path`);
    const isEmpty = (x: unknown) =>
      x === undefined || x === null || (typeof x === 'string' && nulls.has(x)) || (Array.isArray(x) && x.length === 0);
    const transform = v.transform ? compileTransforms(v.transform, `${path}.transform`, problems) : undefined;

    const table = v.map ? new Map(Object.entries(v.map)) : undefined;
    const fallback = table?.has('*');
    const convert = converter(type, v, `${path}`, problems);
    const shifts = (['add', 'subtract'] as const).flatMap((k) =>
      Object.entries(v[k] ?? {}).map(([unit, amount]) => ({
        unit: unit as ShiftUnit,
        sign: k === 'add' ? 1 : -1,
        amount: value(amount as ValueSpec, `${path}.${k}.${unit}`, `${field} (${k} ${unit})`),
      })),
    );

    return (row, ctx) => {
      missReason = undefined;
      let x = raw(row, ctx);
      if (x === FAIL) return FAIL;
      const before = x;
      if (transform) {
        const t = transform(x);
        if (!t.ok) {
          ctx.errors.push({ event: ctx.event, field, reason: `${where}: ${echo ? show(x) : 'the value'} ${t.reason}` });
          return FAIL;
        }
        x = t.value;
      }
      if (isEmpty(x)) {
        if (hasDefault) return v.default;
        if (v.optional) return OMIT;
        ctx.errors.push({
          event: ctx.event,
          field,
          reason: `${where} ${missReason ?? (transform && !isEmpty(before) ? 'has no value after its transforms' : 'is empty')}`,
        });
        return FAIL;
      }
      if (table) {
        const key = String(x);
        if (table.has(key)) x = table.get(key);
        else if (fallback) x = table.get('*');
        else {
          const known = [...table.keys()]
            .slice(0, 10)
            .map((k) => JSON.stringify(k))
            .join(', ');
          ctx.errors.push({
            event: ctx.event,
            field,
            reason: `${where}: ${echo ? show(x) : 'the value'} is not in the value table (${known})`,
          });
          return FAIL;
        }
        if (x === null) return v.optional ? OMIT : x;
      }
      if (!convert) return x;
      const r = convert(x);
      if (!r.ok) {
        ctx.errors.push({ event: ctx.event, field, reason: `${where}: ${echo ? show(x) : 'the value'} ${r.reason}` });
        return FAIL;
      }
      if (shifts.length === 0) return type === 'date' ? new Date(r.value as number).toISOString() : r.value;
      let ms = r.value as number;
      for (const s of shifts) {
        const n = s.amount(row, ctx);
        if (n === FAIL) return FAIL;
        if (n === OMIT) continue;
        if (typeof n !== 'number' || !Number.isFinite(n)) {
          ctx.errors.push({
            event: ctx.event,
            field,
            reason: `the ${s.unit} to ${s.sign > 0 ? 'add' : 'subtract'} is not a number (set "type": "integer")`,
          });
          return FAIL;
        }
        ms = shiftInstant(ms, s.unit, s.sign * n);
      }
      return new Date(ms).toISOString();
    };
  };

  /** identifiers from several specs; a value that is a list (after `split`) gives one identifier per element */
  function identifierList(list: IdentifierSpec[], path: string, field: string) {
    const specs = list.map((c, j) => ({
      optional: c.optional === true,
      kind: value(c.kind, `${path}[${j}].kind`, `${field}.${j}.kind`),
      // identifier values are personal data: reasons never echo them
      value: value(c.value, `${path}[${j}].value`, `${field}.${j}.value`, { echo: false }),
    }));
    return (row: SourceRow, ctx: Ctx): { kind: unknown; value: unknown }[] | typeof FAIL => {
      const ids: { kind: unknown; value: unknown }[] = [];
      const seen = new Set<string>();
      let failed = false;
      for (const id of specs) {
        const before = ctx.errors.length;
        const kind = id.kind(row, ctx);
        const val = id.value(row, ctx);
        if (id.optional && (val === FAIL || val === OMIT) && kind !== FAIL) {
          ctx.errors.length = before; // an optional identifier's empty cell is not a problem
          continue;
        }
        if (kind === FAIL || val === FAIL || kind === OMIT || val === OMIT) {
          failed = true;
          continue;
        }
        for (const one of Array.isArray(val) ? val : [val]) {
          const k = `${String(kind)}\u0000${String(one)}`;
          if (seen.has(k)) continue;
          seen.add(k);
          ids.push({ kind, value: one });
        }
      }
      return failed ? FAIL : ids;
    };
  }

  const condition = (c: Condition, path: string): ((row: SourceRow) => boolean) => {
    const get = cell(c.column, `${path}.column`);
    const text = (row: SourceRow) => {
      const x = get(row);
      return x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x);
    };
    if (c.equals !== undefined) return (row) => text(row) === c.equals;
    if (c.notEquals !== undefined) return (row) => text(row) !== c.notEquals;
    if (c.in) {
      const set = new Set(c.in);
      return (row) => set.has(text(row));
    }
    if (c.notIn) {
      const set = new Set(c.notIn);
      return (row) => !set.has(text(row));
    }
    if (c.matches !== undefined) {
      const pattern = compileUserPattern(c.matches);
      if (!pattern.ok) {
        problems.push({ path: `${path}.matches`, reason: pattern.reason });
        return () => false;
      }
      return (row) => pattern.test(text(row));
    }
    return c.empty ? (row) => text(row) === '' : (row) => text(row) !== '';
  };
  const all = (list: Condition[] | undefined, path: string) => {
    const tests = (list ?? []).map((c, i) => condition(c, `${path}[${i}]`));
    return (row: SourceRow) => tests.every((t) => t(row));
  };

  const rowFilter = all(spec.filter, 'filter');
  const keyParts = (spec.key ?? ['$row']).map((k, i) => cell(k, `key[${i}]`));

  const rules = spec.events.map((rule: EventRule, i) => {
    const p = `events[${i}]`;
    const name = rule.name ?? String(i);
    const when = all(rule.when, `${p}.when`);
    const fields: [string, Compiled][] = [
      ['type', value(rule.type, `${p}.type`, 'type')],
      ['occurredAt', value(rule.occurredAt, `${p}.occurredAt`, 'occurredAt', { defaultType: 'date' })],
      ['channel', value(rule.channel, `${p}.channel`, 'channel')],
    ];
    for (const k of ['agentId', 'correlationId', 'causationId'] as const)
      if (rule[k] !== undefined) fields.push([k, value(rule[k]!, `${p}.${k}`, k)]);
    const identifiers = identifierList(rule.customer, `${p}.customer`, 'customer.identifiers');
    const data = dataBuilder(rule.data, `${p}.data`, 'data', value);
    const firstOf = rule.firstOf?.map((c, j) => ({ column: c, get: cell(c, `${p}.firstOf[${j}]`) }));
    return { name, when, fields, identifiers, data, schemaVersion: rule.schemaVersion, firstOf, seen: new Set<string>() };
  });

  if (problems.length > 0) throw new MappingError(problems);

  return {
    spec,
    map(row) {
      if (!rowFilter(row)) return { kind: 'filtered' };
      const ctx: Ctx = { errors: [] };
      const key = keyParts.map((k) => {
        const x = k(row);
        return x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x);
      });
      const events: { rule: string; envelope: Record<string, unknown> }[] = [];
      const firsts: { seen: Set<string>; key: string }[] = [];
      for (const rule of rules) {
        if (!rule.when(row)) continue;
        ctx.event = rule.name;
        let idKey = key;
        if (rule.firstOf) {
          const parts: string[] = [];
          for (const { column, get } of rule.firstOf) {
            const x = get(row);
            const text = x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x);
            if (text === '')
              ctx.errors.push({
                event: rule.name,
                field: 'firstOf',
                reason: `${columnLabel(column)} is empty: the first-of-key rule needs a key`,
              });
            parts.push(text);
          }
          const first = JSON.stringify(parts);
          if (rule.seen.has(first)) continue; // not the first row of this key in the file
          firsts.push({ seen: rule.seen, key: first });
          idKey = ['$firstOf', ...parts];
        }
        const envelope: Record<string, unknown> = {
          eventId: deterministicUuid('import', spec.source, rule.name, ...idKey),
          source: spec.source,
        };
        if (rule.schemaVersion !== undefined) envelope.schemaVersion = rule.schemaVersion;
        for (const [k, get] of rule.fields) {
          const x = get(row, ctx);
          if (x !== OMIT && x !== FAIL) envelope[k] = x;
        }
        const listed = rule.identifiers(row, ctx);
        const ids = listed === FAIL ? [] : listed;
        if (listed !== FAIL && ids.length === 0)
          ctx.errors.push({
            event: rule.name,
            field: 'customer.identifiers',
            reason: 'no identifier: every identifier cell of this row is empty',
          });
        envelope.customer = { identifiers: ids };
        envelope.data = rule.data(row, ctx);
        events.push({ rule: rule.name, envelope });
      }
      if (ctx.errors.length > 0) return { kind: 'rejected', errors: ctx.errors };
      if (events.length === 0) return { kind: 'filtered' };
      for (const f of firsts) f.seen.add(f.key);
      return { kind: 'events', events };
    },
  };
}

type ValueCompiler = (spec: ValueSpec, path: string, field: string) => Compiled;

function dataBuilder(
  data: Record<string, unknown>,
  path: string,
  field: string,
  value: ValueCompiler,
): (row: SourceRow, ctx: Ctx) => Record<string, unknown> {
  const entries = Object.entries(data).map(([k, v]) => {
    const nested = typeof v === 'object' && v !== null && !Array.isArray(v) && !isValueObject(v);
    return {
      k,
      nested,
      get: nested
        ? dataBuilder(v as Record<string, unknown>, `${path}.${k}`, `${field}.${k}`, value)
        : value(v as ValueSpec, `${path}.${k}`, `${field}.${k}`),
    };
  });
  return (row, ctx) => {
    const out: Record<string, unknown> = {};
    for (const { k, get, nested } of entries) {
      const x = get(row, ctx);
      if (x === OMIT || x === FAIL) continue;
      if (nested && Object.keys(x as object).length === 0) continue; // every nested field empty: leave the object out
      out[k] = x;
    }
    return out;
  };
}

type Converter = ((x: unknown) => { ok: true; value: unknown } | { ok: false; reason: string }) | undefined;

function converter(type: ValueObject['type'], v: ValueObject, path: string, problems: MappingProblem[]): Converter {
  switch (type) {
    case undefined:
      return undefined;
    case 'string':
      return (x) => (typeof x === 'object' ? { ok: false, reason: 'is not text' } : { ok: true, value: String(x) });
    case 'number':
    case 'integer':
      return (x) => convertNumber(x, { decimal: v.decimal, thousands: v.thousands, integer: type === 'integer' });
    case 'boolean':
      return (x) => convertBoolean(x);
    case 'date': {
      let parse: ReturnType<typeof compileDateParser>;
      try {
        parse = compileDateParser(v.format ?? 'iso', v.timeZone ?? 'UTC');
      } catch (e) {
        problems.push({ path: `${path}.format`, reason: (e as Error).message });
        return undefined;
      }
      return (x) => {
        if (typeof x === 'number' && (v.format === 'epoch-ms' || v.format === 'epoch-s')) x = String(x);
        if (typeof x !== 'string') return { ok: false, reason: 'is not a date text' };
        const r = parse(x);
        return r.ok ? { ok: true, value: r.ms } : r;
      };
    }
  }
}

type Transformed = { ok: true; value: unknown } | { ok: false; reason: string };

/** `%`-encodes (UTF-8) what an external id does not allow: anything but printable ASCII, and `%` itself. */
export function encodeExternalId(text: string): string {
  let out = '';
  for (const ch of text.trim()) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x21 && c <= 0x7e && ch !== '%') out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The string transforms of a value, in order; after `split` each step applies to every element. */
function compileTransforms(steps: TransformStep[], path: string, problems: MappingProblem[]): (x: unknown) => Transformed {
  type Fn = (s: string) => string | string[] | null | { reason: string };
  const fns: Fn[] = steps.map((step, i): Fn => {
    if (step === 'trim') return (s) => s.trim();
    if (step === 'lower') return (s) => s.toLowerCase();
    if (step === 'upper') return (s) => s.toUpperCase();
    if (step === 'externalId') return (s) => encodeExternalId(s);
    if ('replace' in step) return (s) => s.split(step.replace).join(step.with ?? '');
    if ('split' in step)
      return (s) =>
        s
          .split(step.split)
          .map((x) => x.trim())
          .filter((x) => x !== '');
    if ('prefix' in step) return (s) => step.prefix + s;
    if ('suffix' in step) return (s) => s + step.suffix;
    const pattern = compileUserPattern(step.extract);
    if (!pattern.ok) {
      problems.push({ path: `${path}[${i}].extract`, reason: pattern.reason });
      return () => null;
    }
    const group = typeof step.group === 'string' ? (pattern.names[step.group] ?? 0) : (step.group ?? (pattern.groups > 0 ? 1 : 0));
    return (s) => {
      const m = pattern.extract(s, group);
      if (m === null && step.required) return { reason: `does not match the pattern of transform[${i}] (${JSON.stringify(step.extract)})` };
      return m;
    };
  });
  return (x) => {
    if (x === undefined || x === null) return { ok: true, value: x };
    let cur: string | null | string[] = typeof x === 'object' ? JSON.stringify(x) : String(x);
    for (const fn of fns) {
      if (cur === null) break;
      const one = (s: string) => fn(s);
      if (Array.isArray(cur)) {
        const next: string[] = [];
        for (const s of cur) {
          const r = one(s);
          if (r !== null && typeof r === 'object' && !Array.isArray(r)) return { ok: false, reason: r.reason };
          if (Array.isArray(r)) next.push(...r);
          else if (r !== null) next.push(r);
        }
        cur = next;
      } else {
        const r = one(cur);
        if (r !== null && typeof r === 'object' && !Array.isArray(r)) return { ok: false, reason: r.reason };
        cur = r;
      }
    }
    return { ok: true, value: cur };
  };
}
