import { deterministicUuid, type FieldError } from '@cem/domain';
import { compileDateParser, shiftInstant, type ShiftUnit } from '../convert/dates';
import { convertNumber, convertBoolean } from '../convert/scalars';
import { isValueObject, MappingError, type MappingProblem } from './parse-mapping';
import type { Condition, EventRule, MappingSpec, ValueObject, ValueSpec } from './mapping.types';
import { compileUserPattern } from './patterns';

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
export function compileMapping(spec: MappingSpec, columns: string[] | undefined): CompiledMapping {
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
    const where = (v.column ?? v.path) ? columnLabel((v.column ?? v.path)!) : label;

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
    } else raw = cell((v.column ?? v.path)!, v.column !== undefined ? `${path}.column` : `${path}.path`);

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
      let x = raw(row, ctx);
      if (x === undefined || x === null || (typeof x === 'string' && nulls.has(x))) {
        if (hasDefault) return v.default;
        if (v.optional) return OMIT;
        ctx.errors.push({ event: ctx.event, field, reason: `${where} is empty` });
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
    const identifiers = rule.customer.map((c, j) => ({
      optional: c.optional === true,
      kind: value(c.kind, `${p}.customer[${j}].kind`, `customer.identifiers.${j}.kind`),
      // identifier values are personal data: reasons never echo them
      value: value(c.value, `${p}.customer[${j}].value`, `customer.identifiers.${j}.value`, { echo: false }),
    }));
    const data = dataBuilder(rule.data, `${p}.data`, 'data', value);
    return { name, when, fields, identifiers, data, schemaVersion: rule.schemaVersion };
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
      for (const rule of rules) {
        if (!rule.when(row)) continue;
        ctx.event = rule.name;
        const envelope: Record<string, unknown> = {
          eventId: deterministicUuid('import', spec.source, rule.name, ...key),
          source: spec.source,
        };
        if (rule.schemaVersion !== undefined) envelope.schemaVersion = rule.schemaVersion;
        for (const [k, get] of rule.fields) {
          const x = get(row, ctx);
          if (x !== OMIT && x !== FAIL) envelope[k] = x;
        }
        const ids: { kind: unknown; value: unknown }[] = [];
        let failed = false;
        for (const id of rule.identifiers) {
          const before = ctx.errors.length;
          const kind = id.kind(row, ctx);
          const val = id.value(row, ctx);
          if (id.optional && (val === FAIL || val === OMIT) && kind !== FAIL) {
            ctx.errors.length = before; // an optional identifier's empty cell is not a problem
            continue;
          }
          if (kind === FAIL || val === FAIL || kind === OMIT || val === OMIT) failed = true;
          else ids.push({ kind, value: val });
        }
        if (ids.length === 0 && !failed)
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
