import { CHANNELS, IDENTIFIER_KINDS, TOUCHPOINT_TYPES } from '@cem/domain';
import { checkTimeZone, compileDateParser, DateFormatError, SHIFT_UNITS } from '../convert/dates';
import type { Condition, EventRule, MappingSpec, ValueObject } from './mapping.types';
import { compileUserPattern } from './patterns';

/** One problem of a mapping, named by its JSON path, e.g. `events[0].data.amount.column`. */
export interface MappingProblem {
  path: string;
  reason: string;
}

/** The mapping cannot be used: nothing was (or will be) imported. */
export class MappingError extends Error {
  constructor(readonly problems: MappingProblem[]) {
    super(`invalid mapping:\n  - ${problems.map((p) => `${p.path || '(root)'}: ${p.reason}`).join('\n  - ')}`);
    this.name = 'MappingError';
  }
}

const VALUE_KEYS = [
  'const',
  'column',
  'path',
  'template',
  'map',
  'type',
  'decimal',
  'thousands',
  'format',
  'timeZone',
  'add',
  'subtract',
  'nullValues',
  'default',
  'optional',
  'concat',
  'separator',
  'identifiers',
  'transform',
  'lookup',
];
const SOURCES = ['const', 'column', 'path', 'template', 'concat', 'identifiers', 'lookup'];
const NAMED_STEPS = ['trim', 'lower', 'upper', 'externalId'];
const STEP_KEYS: Record<string, string[]> = {
  replace: ['replace', 'with'],
  extract: ['extract', 'group', 'required'],
  split: ['split'],
  prefix: ['prefix'],
  suffix: ['suffix'],
};
const TYPES = ['string', 'number', 'integer', 'boolean', 'date'];
const CONDITION_KEYS = ['column', 'equals', 'notEquals', 'in', 'notIn', 'matches', 'empty'];
const ENCODINGS = ['utf-8', 'latin1', 'windows-1252', 'utf-16le'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** An object in `data` is a value when it names a source; otherwise it is a nested object of fields. */
export const isValueObject = (v: unknown): v is ValueObject => isObject(v) && SOURCES.some((k) => k in v);

/**
 * Checks the shape of a mapping (without the file: column names are checked against the header by
 * compileMapping). Collects every problem, so one round trip fixes the mapping.
 */
export function parseMapping(raw: unknown): MappingSpec {
  const problems: MappingProblem[] = [];
  const fail = (path: string, reason: string) => problems.push({ path, reason });
  if (!isObject(raw)) throw new MappingError([{ path: '', reason: 'a mapping must be a JSON object' }]);

  unknownKeys(raw, '', ['$schema', '$comment', 'name', 'source', 'input', 'filter', 'key', 'lookups', 'events'], fail);
  if (typeof raw.name !== 'string' || raw.name.trim() === '') fail('name', 'is required (a short name for the mapping)');
  if (typeof raw.source !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/.test(raw.source)) {
    fail('source', 'is required: letters, digits, dot, underscore or dash (the envelope source and the id namespace)');
  }

  inputSpec(raw.input, 'input', fail);
  const lookupNames = isObject(raw.lookups) ? Object.keys(raw.lookups) : [];
  if (raw.lookups !== undefined) {
    if (!isObject(raw.lookups)) fail('lookups', 'must be an object: name -> {"file": ..., "key": ...}');
    else
      for (const [name, l] of Object.entries(raw.lookups)) {
        const p = `lookups.${name}`;
        if (!isObject(l)) {
          fail(p, 'must be {"file": ..., "key": ..., "duplicates"?: "error" | "first" | "last" | "sum"}');
          continue;
        }
        unknownKeys(l, p, ['file', 'key', 'input', 'duplicates', '$comment'], fail);
        for (const k of ['file', 'key'] as const)
          if (typeof l[k] !== 'string' || l[k] === '') fail(`${p}.${k}`, 'must be a non-empty string');
        if (l.duplicates !== undefined && !['error', 'first', 'last', 'sum'].includes(l.duplicates as string))
          fail(`${p}.duplicates`, 'must be "error", "first", "last" or "sum"');
        if (l.input !== undefined) inputSpec(l.input, `${p}.input`, fail);
      }
  }
  lookupNamesInScope = lookupNames;
  summedLookupsInScope = isObject(raw.lookups)
    ? Object.entries(raw.lookups)
        .filter(([, l]) => isObject(l) && l.duplicates === 'sum')
        .map(([name]) => name)
    : [];
  if (raw.filter !== undefined) conditions(raw.filter, 'filter', fail);
  if (raw.key !== undefined && !(Array.isArray(raw.key) && raw.key.length > 0 && raw.key.every((k) => typeof k === 'string' && k !== ''))) {
    fail('key', 'must be a non-empty array of column names, "$line" or "$row"');
  }

  if (!Array.isArray(raw.events) || raw.events.length === 0) fail('events', 'is required: at least one event rule');
  else {
    const names = new Set<string>();
    raw.events.forEach((e, i) => {
      const p = `events[${i}]`;
      if (!isObject(e)) return fail(p, 'must be an object');
      unknownKeys(
        e,
        p,
        [
          'name',
          'when',
          'firstOf',
          'type',
          'schemaVersion',
          'occurredAt',
          'channel',
          'customer',
          'agentId',
          'correlationId',
          'causationId',
          'data',
          '$comment',
        ],
        fail,
      );
      const name = e.name === undefined ? String(i) : e.name;
      if (typeof name !== 'string' || name === '') fail(`${p}.name`, 'must be a non-empty string');
      else if (names.has(name))
        fail(`${p}.name`, `"${name}" is used by another event rule; names must differ (they are part of the event ids)`);
      else names.add(name);
      if (e.when !== undefined) conditions(e.when, `${p}.when`, fail);
      if (
        e.firstOf !== undefined &&
        !(Array.isArray(e.firstOf) && e.firstOf.length > 0 && e.firstOf.every((k) => typeof k === 'string' && k !== ''))
      )
        fail(`${p}.firstOf`, 'must be a non-empty array of column names, e.g. ["case_id"]');
      required(e, p, 'type', fail, (v) =>
        typeof v === 'string' && !TOUCHPOINT_TYPES.includes(v as never)
          ? `"${v}" is not a touch-point type; known: ${TOUCHPOINT_TYPES.join(', ')}`
          : undefined,
      );
      if (isValueObject(e.type) && e.type.map) {
        for (const [k, v] of Object.entries(e.type.map)) {
          if (typeof v !== 'string' || !TOUCHPOINT_TYPES.includes(v as never))
            fail(`${p}.type.map.${k}`, `"${String(v)}" is not a touch-point type`);
        }
      }
      if (e.schemaVersion !== undefined && !(Number.isInteger(e.schemaVersion) && (e.schemaVersion as number) >= 1))
        fail(`${p}.schemaVersion`, 'must be a positive integer');
      required(e, p, 'occurredAt', fail);
      required(e, p, 'channel', fail, (v) =>
        typeof v === 'string' && !CHANNELS.includes(v as never) ? `"${v}" is not a channel; known: ${CHANNELS.join(', ')}` : undefined,
      );
      for (const k of ['agentId', 'correlationId', 'causationId'] as const) if (e[k] !== undefined) value(e[k], `${p}.${k}`, fail);
      if (!Array.isArray(e.customer) || e.customer.length === 0)
        fail(`${p}.customer`, 'is required: at least one {"kind": ..., "value": ...}');
      // the same rules as an identifier list in data (identifiers.linked)
      else identifierList(e.customer, `${p}.customer`, fail);
      if (!isObject(e.data)) fail(`${p}.data`, 'is required: an object of payload fields ({} when the type has none)');
      else dataFields(e.data, `${p}.data`, fail);
    });
  }
  if (problems.length > 0) throw new MappingError(problems);
  return raw as unknown as MappingSpec;
}

type Fail = (path: string, reason: string) => void;

/** lookup names of the mapping being parsed (parseMapping is synchronous, one mapping at a time) */
let lookupNamesInScope: string[] = [];
/** those of them with `duplicates: "sum"` */
let summedLookupsInScope: string[] = [];

function inputSpec(input: unknown, path: string, fail: Fail) {
  if (!isObject(input)) return fail(path, 'is required: {"format": "csv" | "ndjson", ...}');
  unknownKeys(input, path, ['format', 'separator', 'quote', 'header', 'columns', 'encoding', 'trim'], fail);
  if (input.format !== 'csv' && input.format !== 'ndjson') fail(`${path}.format`, 'must be "csv" or "ndjson"');
  if (
    input.separator !== undefined &&
    !(input.separator === 'whitespace' || (typeof input.separator === 'string' && [...input.separator].length === 1))
  ) {
    fail(`${path}.separator`, 'must be one character (e.g. "," ";" "\\t" "|") or "whitespace"');
  }
  if (input.quote !== undefined && !(typeof input.quote === 'string' && input.quote.length === 1))
    fail(`${path}.quote`, 'must be one character');
  if (input.header !== undefined && typeof input.header !== 'boolean') fail(`${path}.header`, 'must be true or false');
  if (
    input.columns !== undefined &&
    !(Array.isArray(input.columns) && input.columns.length > 0 && input.columns.every((c) => typeof c === 'string' && c !== ''))
  ) {
    fail(`${path}.columns`, 'must be a non-empty array of column names');
  }
  if (input.format === 'csv' && input.header === false && input.columns === undefined)
    fail(`${path}.columns`, 'is required when input.header is false');
  if (input.encoding !== undefined && !ENCODINGS.includes(input.encoding as string))
    fail(`${path}.encoding`, `must be one of ${ENCODINGS.join(', ')}`);
  if (input.trim !== undefined && typeof input.trim !== 'boolean') fail(`${path}.trim`, 'must be true or false');
}

function unknownKeys(o: Record<string, unknown>, path: string, known: string[], fail: Fail) {
  for (const k of Object.keys(o))
    if (!known.includes(k))
      fail(path ? `${path}.${k}` : k, `is not a known key here; known: ${known.filter((x) => !x.startsWith('$')).join(', ')}`);
}

function required(o: Record<string, unknown>, path: string, key: string, fail: Fail, constCheck?: (v: unknown) => string | undefined) {
  if (o[key] === undefined) return fail(`${path}.${key}`, 'is required');
  value(o[key], `${path}.${key}`, fail);
  const constant = isValueObject(o[key]) ? (o[key] as ValueObject).const : o[key];
  const problem = constant === undefined ? undefined : constCheck?.(constant);
  if (problem) fail(`${path}.${key}`, problem);
}

function dataFields(data: Record<string, unknown>, path: string, fail: Fail) {
  for (const [k, v] of Object.entries(data)) {
    if (isObject(v) && !isValueObject(v)) dataFields(v, `${path}.${k}`, fail);
    else value(v as never, `${path}.${k}`, fail);
  }
}

export function value(v: unknown, path: string, fail: Fail): void {
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => value(x, `${path}[${i}]`, fail));
    return;
  }
  if (!isObject(v)) return fail(path, 'must be a constant or a value object');
  if ('duplicates' in v)
    fail(
      `${path}.duplicates`,
      'belongs to a lookup, not to a value: set lookups.<name>.duplicates ("error", "first", "last" or "sum") and read it with {"lookup": ...}',
    );
  unknownKeys(v, path, VALUE_KEYS, (p, reason) => p !== `${path}.duplicates` && fail(p, reason));
  const sources = SOURCES.filter((k) => k in v);
  if (sources.length !== 1)
    return fail(path, `must name exactly one of ${SOURCES.join(', ')}${sources.length ? ` (has ${sources.join(', ')})` : ''}`);
  for (const k of ['column', 'path', 'template'] as const)
    if (k in v && (typeof v[k] !== 'string' || v[k] === '')) fail(`${path}.${k}`, 'must be a non-empty string');
  if ('concat' in v && !(Array.isArray(v.concat) && v.concat.length > 0 && v.concat.every((c) => typeof c === 'string' && c !== '')))
    fail(`${path}.concat`, 'must be a non-empty array of column names');
  if (v.separator !== undefined && (typeof v.separator !== 'string' || !('concat' in v)))
    fail(`${path}.separator`, 'must be a string, with "concat"');
  if ('identifiers' in v) identifierList(v.identifiers, `${path}.identifiers`, fail);
  if ('lookup' in v) {
    const l = v.lookup;
    if (!isObject(l) || ['from', 'key', 'column'].some((k) => typeof l[k] !== 'string' || l[k] === ''))
      fail(`${path}.lookup`, 'must be {"from": <lookup name>, "key": <column of this file>, "column": <column of the lookup file>}');
    else {
      unknownKeys(l, `${path}.lookup`, ['from', 'key', 'column'], fail);
      if (!lookupNamesInScope.includes(l.from as string))
        fail(`${path}.lookup.from`, `"${String(l.from)}" is not a lookup; lookups: ${lookupNamesInScope.join(', ') || '(none)'}`);
      else if (summedLookupsInScope.includes(l.from as string)) {
        if (v.type !== 'number' && v.type !== 'integer')
          fail(
            `${path}.type`,
            `must be "number" or "integer": lookup "${String(l.from)}" has duplicates "sum", which adds the values of every row of the key (use "first" or "last" for text)`,
          );
        for (const k of ['transform', 'map'] as const)
          if (v[k] !== undefined)
            fail(
              `${path}.${k}`,
              `does not apply to a sum: lookup "${String(l.from)}" has duplicates "sum" (its rows' values are added as numbers)`,
            );
      }
    }
  }
  if (v.transform !== undefined) transforms(v.transform, `${path}.transform`, fail);
  if (typeof v.template === 'string') {
    if (!/\{[^{}]+\}/.test(v.template)) fail(`${path}.template`, 'has no {column} placeholder; use "const" for a constant');
    if (/[{}]/.test(v.template.replace(/\{[^{}]+\}/g, ''))) fail(`${path}.template`, 'has unbalanced braces');
  }
  if (v.type !== undefined && !TYPES.includes(v.type as string)) fail(`${path}.type`, `must be one of ${TYPES.join(', ')}`);
  if (v.map !== undefined && !isObject(v.map)) fail(`${path}.map`, 'must be an object: raw text -> value');
  for (const k of ['decimal', 'thousands'] as const) {
    if (v[k] !== undefined && !(typeof v[k] === 'string' && (v[k] as string).length === 1)) fail(`${path}.${k}`, 'must be one character');
  }
  if (v.decimal !== undefined && v.decimal === v.thousands) fail(`${path}.thousands`, 'must differ from decimal');
  if (v.nullValues !== undefined && !(Array.isArray(v.nullValues) && v.nullValues.every((x) => typeof x === 'string')))
    fail(`${path}.nullValues`, 'must be an array of strings');
  if (v.optional !== undefined && typeof v.optional !== 'boolean') fail(`${path}.optional`, 'must be true or false');
  const isDate = v.type === 'date';
  if (!isDate) {
    for (const k of ['format', 'timeZone', 'add', 'subtract'] as const)
      if (v[k] !== undefined) fail(`${path}.${k}`, 'applies to "type": "date" only');
  }
  if (v.timeZone !== undefined) {
    const problem = typeof v.timeZone === 'string' ? checkTimeZone(v.timeZone) : 'must be a string';
    if (problem) fail(`${path}.timeZone`, problem);
  }
  if (v.format !== undefined) {
    if (typeof v.format !== 'string') fail(`${path}.format`, 'must be a string such as "YYYYMMDD", "iso" or "epoch-ms"');
    else {
      try {
        compileDateParser(v.format);
      } catch (e) {
        if (!(e instanceof DateFormatError)) throw e;
        fail(`${path}.format`, e.message);
      }
    }
  }
  for (const k of ['add', 'subtract'] as const) {
    if (v[k] === undefined) continue;
    if (!isObject(v[k])) {
      fail(`${path}.${k}`, `must be an object such as {"months": {"column": "tenure", "type": "integer"}}`);
      continue;
    }
    for (const [unit, amount] of Object.entries(v[k] as object)) {
      if (!SHIFT_UNITS.includes(unit as never)) fail(`${path}.${k}.${unit}`, `is not a unit; units: ${SHIFT_UNITS.join(', ')}`);
      else value(amount, `${path}.${k}.${unit}`, fail);
    }
  }
}

export function identifierList(list: unknown, path: string, fail: Fail) {
  if (!Array.isArray(list) || list.length === 0) return fail(path, 'must be a non-empty array of {"kind": ..., "value": ...}');
  list.forEach((c, j) => {
    const cp = `${path}[${j}]`;
    if (!isObject(c)) return fail(cp, 'must be {"kind": ..., "value": ...}');
    unknownKeys(c, cp, ['kind', 'value', 'optional'], fail);
    required(c, cp, 'kind', fail, (v) =>
      typeof v === 'string' && !IDENTIFIER_KINDS.includes(v as never)
        ? `"${v}" is not an identifier kind; known: ${IDENTIFIER_KINDS.join(', ')}`
        : undefined,
    );
    required(c, cp, 'value', fail);
    if (c.optional !== undefined && typeof c.optional !== 'boolean') fail(`${cp}.optional`, 'must be true or false');
  });
}

function transforms(list: unknown, path: string, fail: Fail) {
  if (!Array.isArray(list)) return fail(path, 'must be an array of steps such as "trim" or {"replace": "-", "with": ""}');
  list.forEach((step, i) => {
    const p = `${path}[${i}]`;
    if (typeof step === 'string') {
      if (!NAMED_STEPS.includes(step))
        fail(p, `"${step}" is not a transform; known: ${[...NAMED_STEPS, ...Object.keys(STEP_KEYS)].join(', ')}`);
      return;
    }
    if (!isObject(step)) return fail(p, 'must be a step name or an object such as {"extract": "^(\\d+)"}');
    const kind = Object.keys(STEP_KEYS).filter((k) => k in step);
    if (kind.length !== 1) return fail(p, `must have exactly one of ${Object.keys(STEP_KEYS).join(', ')}`);
    const k = kind[0];
    unknownKeys(step, p, STEP_KEYS[k], fail);
    if (typeof step[k] !== 'string' || (k !== 'prefix' && k !== 'suffix' && step[k] === ''))
      return fail(`${p}.${k}`, 'must be a non-empty string');
    if (k === 'replace' && step.with !== undefined && typeof step.with !== 'string') fail(`${p}.with`, 'must be a string');
    if (k === 'extract') {
      if (step.required !== undefined && typeof step.required !== 'boolean') fail(`${p}.required`, 'must be true or false');
      const pattern = compileUserPattern(step.extract as string);
      if (!pattern.ok) return fail(`${p}.extract`, pattern.reason);
      const group = step.group ?? (pattern.groups > 0 ? 1 : 0);
      if (typeof group === 'number') {
        if (!Number.isInteger(group) || group < 0 || group > pattern.groups)
          fail(`${p}.group`, `must be a capture group of the pattern: 0 (the whole match) to ${pattern.groups}`);
      } else if (typeof group !== 'string' || !(group in pattern.names))
        fail(`${p}.group`, `must be a group number or the name of a named group of the pattern`);
    }
  });
}

function conditions(list: unknown, path: string, fail: Fail) {
  if (!Array.isArray(list)) return fail(path, 'must be an array of conditions such as {"column": "Churn", "equals": "Yes"}');
  list.forEach((c, i) => {
    const p = `${path}[${i}]`;
    if (!isObject(c)) return fail(p, 'must be an object');
    unknownKeys(c, p, CONDITION_KEYS, fail);
    if (typeof c.column !== 'string' || c.column === '') fail(`${p}.column`, 'is required');
    const tests = CONDITION_KEYS.filter((k) => k !== 'column' && k in c);
    if (tests.length !== 1)
      fail(
        p,
        `must have exactly one test of equals, notEquals, in, notIn, matches, empty${tests.length ? ` (has ${tests.join(', ')})` : ''}`,
      );
    for (const k of ['equals', 'notEquals', 'matches'] as const)
      if (k in c && typeof c[k] !== 'string') fail(`${p}.${k}`, 'must be a string');
    for (const k of ['in', 'notIn'] as const)
      if (k in c && !(Array.isArray(c[k]) && (c[k] as unknown[]).every((x) => typeof x === 'string')))
        fail(`${p}.${k}`, 'must be an array of strings');
    if ('empty' in c && typeof c.empty !== 'boolean') fail(`${p}.empty`, 'must be true or false');
    if (typeof c.matches === 'string') {
      const pattern = compileUserPattern(c.matches);
      if (!pattern.ok) fail(`${p}.matches`, pattern.reason);
    }
  });
}

export type { Condition, EventRule };
