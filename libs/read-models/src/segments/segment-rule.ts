import { CHANNELS, TOUCHPOINT_TYPES, type ChurnBand, type FieldError } from '@cem/domain';
import {
  LIFECYCLE_STAGES,
  NPS_CATEGORIES,
  VALUE_SEGMENTS,
  type LifecycleStage,
  type NpsCategory,
  type ValueSegment,
} from '../customer-360/lifecycle';

/*
 * The segment rule language (docs/segments.md): a JSON tree of
 *   { "all": [rule, ...] }   every rule matches
 *   { "any": [rule, ...] }   at least one matches
 *   { "not": rule }          the rule does not match
 *   { "fact": "<fact>", "op": "<op>", "value": <value> }           a comparison on a customer fact
 *   { "count": "<event type>", "where": { "<detail>": "<value>" }, "within": "P30D", "op": ">=", "value": 3 }
 *                                                                   events of a type in a window ending now
 * Pure: validation names the JSON path of each problem; evaluation reads a SegmentFacts and an instant.
 */

/** all / any / not levels a rule may nest (the outermost combinator is level 1) */
export const MAX_RULE_DEPTH = 5;
/** nodes (combinators and comparisons) in one rule */
export const MAX_RULE_NODES = 200;
/** rules in one all / any */
export const MAX_RULE_CHILDREN = 50;
/** the longest window of an event count, in days (the facts keep a year of events) */
export const MAX_WINDOW_DAYS = 365;
/** the largest count a rule may compare with (the facts keep at most this many events per kind) */
export const MAX_COUNT = 1000;
export const CHURN_BANDS: readonly ChurnBand[] = ['low', 'medium', 'high', 'critical'];
export const MILESTONE_OUTCOMES = ['reached', 'missed', 'open'] as const;
export type MilestoneOutcome = (typeof MILESTONE_OUTCOMES)[number];

/**
 * Consent purposes a rule or a segment may name without the log having seen them: the usual ones.
 * Any purpose a `consent.changed` event carried is known as well.
 */
export const STANDARD_CONSENT_PURPOSES = [
  'marketing-email',
  'marketing-sms',
  'marketing-phone',
  'marketing-post',
  'profiling',
  'personalisation',
  'third-party-sharing',
] as const;

/** The payload field a count's `where` may filter on, per event type. */
export const COUNT_DETAILS: Readonly<Record<string, string>> = {
  'contact.handled': 'reason',
  'case.opened': 'category',
  'complaint.filed': 'category',
  'campaign.responded': 'response',
  'order.cancelled': 'reason',
  'refund.issued': 'reason',
  'subscription.cancelled': 'reason',
};

/** What a rule is evaluated on: one live customer's facts (segments.model.ts builds them). */
export interface SegmentFacts {
  lifecycleStage: LifecycleStage;
  valueSegment: ValueSegment;
  /** purchases - refunds over every currency, in major units */
  netValue: number;
  purchases: number;
  /** the channels the customer used (touch points with a channel) */
  channels: readonly string[];
  openCases: number;
  nps: number | null;
  npsCategory: NpsCategory | null;
  csat: number | null;
  ces: number | null;
  /** purpose -> granted, the latest consent.changed of each purpose */
  consents: Readonly<Record<string, boolean>>;
  /** the band of the latest churn-risk.changed; `low` when never announced */
  churnBand: ChurnBand;
  /** the probability the latest churn-risk.changed carried; null when never announced */
  churnScore: number | null;
  /** milestone id -> the latest milestone event's outcome */
  milestones: Readonly<Record<string, 'reached' | 'missed'>>;
  /** occurredAt instants (UTC ISO, ascending) of the last year of events, by `type` and `type|detail` */
  recent: Readonly<Record<string, readonly string[]>>;
}

type FactSpec =
  | { kind: 'enum'; values: readonly string[]; ordered?: boolean; nullable?: boolean; read: (f: SegmentFacts) => string | null }
  | { kind: 'number'; min: number; max: number; nullable?: boolean; read: (f: SegmentFacts) => number | null }
  | { kind: 'set'; values: readonly string[]; read: (f: SegmentFacts) => readonly string[] }
  | { kind: 'boolean'; read: (f: SegmentFacts) => boolean };

const BIG = 1e12;
/** The facts a rule can compare, by name (`consent.<purpose>` and `milestone.<id>` are parameterised). */
export const SEGMENT_FACTS: Readonly<Record<string, FactSpec>> = {
  lifecycleStage: { kind: 'enum', values: LIFECYCLE_STAGES, read: (f) => f.lifecycleStage },
  valueSegment: { kind: 'enum', values: VALUE_SEGMENTS, ordered: true, read: (f) => f.valueSegment },
  netValue: { kind: 'number', min: -BIG, max: BIG, read: (f) => f.netValue },
  purchases: { kind: 'number', min: 0, max: BIG, read: (f) => f.purchases },
  channels: { kind: 'set', values: CHANNELS, read: (f) => f.channels },
  openCases: { kind: 'number', min: 0, max: BIG, read: (f) => f.openCases },
  nps: { kind: 'number', min: 0, max: 10, nullable: true, read: (f) => f.nps },
  npsCategory: { kind: 'enum', values: NPS_CATEGORIES, nullable: true, read: (f) => f.npsCategory },
  csat: { kind: 'number', min: 1, max: 5, nullable: true, read: (f) => f.csat },
  ces: { kind: 'number', min: 1, max: 7, nullable: true, read: (f) => f.ces },
  churnBand: { kind: 'enum', values: CHURN_BANDS, ordered: true, read: (f) => f.churnBand },
  churnScore: { kind: 'number', min: 0, max: 1, nullable: true, read: (f) => f.churnScore },
};
const PARAMETERISED = ['consent.<purpose>', 'milestone.<milestoneId>'];

const OPS_BY_KIND = {
  enum: ['=', '!=', 'in', 'not in'],
  ordered: ['<', '<=', '>', '>='],
  number: ['=', '!=', '<', '<=', '>', '>='],
  set: ['includes', 'excludes'],
  boolean: ['=', '!='],
} as const;

/** What validation needs to know beyond the language: the purposes and milestones that exist. */
export interface RuleVocabulary {
  consentPurposes: ReadonlySet<string>;
  /** absent: milestone ids are not checked */
  milestoneIds?: ReadonlySet<string>;
}

export type RulePredicate = (facts: SegmentFacts, asOfMs: number) => boolean;
export type RuleCheck = { ok: true; evaluate: RulePredicate } | { ok: false; errors: FieldError[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (values: readonly string[]) => values.join(', ');
const DURATION = /^P(?:(\d{1,4})D|(\d{1,3})W|T(\d{1,5})H)$/;
const HOUR_MS = 3_600_000;

/** The window of a count in milliseconds, or undefined when it is not a duration of 1 hour to 365 days. */
export function windowMs(within: unknown): number | undefined {
  if (typeof within !== 'string') return undefined;
  const m = DURATION.exec(within);
  if (!m) return undefined;
  const hours = m[1] !== undefined ? Number(m[1]) * 24 : m[2] !== undefined ? Number(m[2]) * 168 : Number(m[3]);
  if (hours < 1 || hours > MAX_WINDOW_DAYS * 24) return undefined;
  return hours * HOUR_MS;
}

/**
 * Validates a rule and compiles it to a predicate. Every problem is reported with its JSON path
 * from `path` (e.g. `rule.all[1].value`): unknown keys and facts, operators the fact does not
 * have, values of the wrong type, unknown consent purposes or milestones, windows that are not
 * durations, nesting deeper than MAX_RULE_DEPTH.
 */
export function compileSegmentRule(rule: unknown, vocabulary: RuleVocabulary, path = 'rule'): RuleCheck {
  const errors: FieldError[] = [];
  let nodes = 0;
  const fail = (field: string, reason: string): RulePredicate => {
    errors.push({ field, reason });
    return () => false;
  };

  const node = (r: unknown, at: string, depth: number): RulePredicate => {
    if (++nodes > MAX_RULE_NODES)
      return nodes === MAX_RULE_NODES + 1 ? fail(at, `a rule has at most ${MAX_RULE_NODES} nodes`) : () => false;
    if (!isObject(r)) return fail(at, 'must be a rule object: all, any, not, fact or count');
    const kinds = ['all', 'any', 'not', 'fact', 'count'].filter((k) => k in r);
    if (kinds.length !== 1)
      return fail(
        at,
        kinds.length === 0
          ? `unknown rule ${JSON.stringify(Object.keys(r))}: one of all, any, not, fact, count`
          : `has both ${kinds.join(' and ')}: one per object`,
      );
    const kind = kinds[0];
    if (kind === 'all' || kind === 'any' || kind === 'not') {
      const extra = Object.keys(r).filter((k) => k !== kind);
      if (extra.length > 0) return fail(`${at}.${extra[0]}`, `unknown key next to ${kind}`);
      if (depth + 1 > MAX_RULE_DEPTH) return fail(`${at}.${kind}`, `nests deeper than ${MAX_RULE_DEPTH} levels of all / any / not`);
      if (kind === 'not') {
        const inner = node(r.not, `${at}.not`, depth + 1);
        return (f, t) => !inner(f, t);
      }
      const items = r[kind];
      if (!Array.isArray(items) || items.length === 0 || items.length > MAX_RULE_CHILDREN)
        return fail(`${at}.${kind}`, `must be a list of 1 to ${MAX_RULE_CHILDREN} rules`);
      const parts = items.map((item, i) => node(item, `${at}.${kind}[${i}]`, depth + 1));
      return kind === 'all' ? (f, t) => parts.every((p) => p(f, t)) : (f, t) => parts.some((p) => p(f, t));
    }
    return kind === 'fact' ? comparison(r, at) : count(r, at);
  };

  const comparison = (r: Record<string, unknown>, at: string): RulePredicate => {
    const extra = Object.keys(r).filter((k) => !['fact', 'op', 'value'].includes(k));
    if (extra.length > 0) return fail(`${at}.${extra[0]}`, 'unknown key: a comparison has fact, op and value');
    if (typeof r.fact !== 'string') return fail(`${at}.fact`, 'must be the name of a fact');
    const spec = factSpec(r.fact, `${at}.fact`);
    if (!spec) return () => false;
    const ops: readonly string[] =
      spec.kind === 'enum'
        ? [...OPS_BY_KIND.enum, ...(spec.ordered ? OPS_BY_KIND.ordered : []), ...(spec.nullable ? ['exists'] : [])]
        : spec.kind === 'number'
          ? [...OPS_BY_KIND.number, ...(spec.nullable ? ['exists'] : [])]
          : OPS_BY_KIND[spec.kind];
    if (typeof r.op !== 'string' || !ops.includes(r.op)) return fail(`${at}.op`, `must be one of ${list(ops)} for ${r.fact}`);
    const op = r.op;
    const value = r.value;
    const vat = `${at}.value`;
    if (op === 'exists') {
      if (typeof value !== 'boolean') return fail(vat, 'must be true or false for exists');
      const read = spec.read as (f: SegmentFacts) => unknown;
      return (f) => (read(f) !== null) === value;
    }
    switch (spec.kind) {
      case 'boolean': {
        if (typeof value !== 'boolean') return fail(vat, `must be true or false: ${r.fact} is a boolean`);
        const read = spec.read;
        return op === '=' ? (f) => read(f) === value : (f) => read(f) !== value;
      }
      case 'number': {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < spec.min || value > spec.max)
          return fail(vat, `must be a number from ${spec.min} to ${spec.max}: ${r.fact} is a number`);
        const read = spec.read;
        const cmp = numeric(op, value);
        return (f) => {
          const v = read(f);
          return v !== null && cmp(v);
        };
      }
      case 'set': {
        if (typeof value !== 'string' || !spec.values.includes(value)) return fail(vat, `must be one of ${list(spec.values)}`);
        const read = spec.read;
        return op === 'includes' ? (f) => read(f).includes(value) : (f) => !read(f).includes(value);
      }
      case 'enum': {
        const read = spec.read;
        if (op === 'in' || op === 'not in') {
          if (!Array.isArray(value) || value.length === 0) return fail(vat, `must be a non-empty list of ${list(spec.values)}`);
          const bad = value.findIndex((v) => typeof v !== 'string' || !spec.values.includes(v));
          if (bad >= 0) return fail(`${vat}[${bad}]`, `must be one of ${list(spec.values)}: ${r.fact} is one of them`);
          const set = new Set(value as string[]);
          return op === 'in' ? (f) => set.has(read(f) as string) : (f) => !set.has(read(f) as string);
        }
        if (typeof value !== 'string' || !spec.values.includes(value))
          return fail(vat, `must be one of ${list(spec.values)}: ${r.fact} is one of them`);
        if (op === '=') return (f) => read(f) === value;
        if (op === '!=') return (f) => read(f) !== value;
        const rank = (v: string | null) => (v === null ? -1 : spec.values.indexOf(v));
        const cmp = numeric(op, rank(value));
        return (f) => {
          const v = read(f);
          return v !== null && cmp(rank(v));
        };
      }
    }
  };

  const factSpec = (fact: string, at: string): FactSpec | undefined => {
    if (Object.prototype.hasOwnProperty.call(SEGMENT_FACTS, fact)) return SEGMENT_FACTS[fact];
    if (fact.startsWith('consent.')) {
      const purpose = fact.slice('consent.'.length);
      if (!vocabulary.consentPurposes.has(purpose)) {
        fail(at, `unknown consent purpose "${purpose}"; known: ${list([...vocabulary.consentPurposes].sort())}`);
        return undefined;
      }
      return { kind: 'boolean', read: (f) => Object.prototype.hasOwnProperty.call(f.consents, purpose) && f.consents[purpose] === true };
    }
    if (fact.startsWith('milestone.')) {
      const id = fact.slice('milestone.'.length);
      if (id === '' || (vocabulary.milestoneIds && !vocabulary.milestoneIds.has(id))) {
        fail(at, `unknown milestone "${id}"; known: ${list([...(vocabulary.milestoneIds ?? [])].sort()) || 'none configured'}`);
        return undefined;
      }
      return {
        kind: 'enum',
        values: MILESTONE_OUTCOMES,
        read: (f) => (Object.prototype.hasOwnProperty.call(f.milestones, id) ? f.milestones[id] : 'open'),
      };
    }
    fail(at, `unknown fact "${fact}"; facts are ${list([...Object.keys(SEGMENT_FACTS), ...PARAMETERISED])}`);
    return undefined;
  };

  const count = (r: Record<string, unknown>, at: string): RulePredicate => {
    const extra = Object.keys(r).filter((k) => !['count', 'where', 'within', 'op', 'value'].includes(k));
    if (extra.length > 0) return fail(`${at}.${extra[0]}`, 'unknown key: a count has count, where, within, op and value');
    const type = r.count;
    if (typeof type !== 'string' || !(TOUCHPOINT_TYPES as readonly string[]).includes(type))
      return fail(
        `${at}.count`,
        `must be a touch-point event type, e.g. contact.handled (${TOUCHPOINT_TYPES.length} types, docs/events.md)`,
      );
    let key = type;
    if (r.where !== undefined) {
      const detail = COUNT_DETAILS[type];
      if (!isObject(r.where)) return fail(`${at}.where`, 'must be an object');
      const keys = Object.keys(r.where);
      if (!detail) return fail(`${at}.where`, `${type} has no detail to filter on; where works for ${list(Object.keys(COUNT_DETAILS))}`);
      if (keys.length !== 1 || keys[0] !== detail) return fail(`${at}.where`, `must be { "${detail}": "<value>" } for ${type}`);
      const v = r.where[detail];
      if (typeof v !== 'string' || v === '' || v.length > 100)
        return fail(`${at}.where.${detail}`, 'must be a text of 1 to 100 characters');
      key = `${type}|${v}`;
    }
    const window = windowMs(r.within);
    if (window === undefined)
      return fail(`${at}.within`, `is not a duration: P<days>D, P<weeks>W or PT<hours>H, from 1 hour to ${MAX_WINDOW_DAYS} days`);
    if (typeof r.op !== 'string' || !(OPS_BY_KIND.number as readonly string[]).includes(r.op))
      return fail(`${at}.op`, `must be one of ${list(OPS_BY_KIND.number)} for a count`);
    const value = r.value;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_COUNT)
      return fail(`${at}.value`, `must be a whole number from 0 to ${MAX_COUNT}: a count is a number`);
    const cmp = numeric(r.op, value);
    return (f, asOfMs) => cmp(countWithin(f.recent[key], asOfMs - window, asOfMs));
  };

  const evaluate = node(rule, path, 0);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, evaluate };
}

function numeric(op: string, value: number): (v: number) => boolean {
  switch (op) {
    case '=':
      return (v) => v === value;
    case '!=':
      return (v) => v !== value;
    case '<':
      return (v) => v < value;
    case '<=':
      return (v) => v <= value;
    case '>':
      return (v) => v > value;
    default:
      return (v) => v >= value;
  }
}

/** Instants in (fromMs, toMs] of an ascending list of ISO instants (binary search on the text: same format, UTC). */
export function countWithin(instants: readonly string[] | undefined, fromMs: number, toMs: number): number {
  if (!instants || instants.length === 0) return 0;
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  return upperBound(instants, to) - upperBound(instants, from);
}

/** The index of the first instant after `x`. */
function upperBound(a: readonly string[], x: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
