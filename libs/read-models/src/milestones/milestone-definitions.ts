import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@cem/config';
import { CHANNELS, isTouchpointType, type Channel, type TouchpointType } from '@cem/domain';

/*
 * Journey milestones as configuration: `<DATA_DIR>/milestones.json`, validated at boot. Each
 * milestone is a condition on the customer's touch points (the earliest matching one reaches it)
 * plus an optional deadline relative to the first touch or to another milestone. The order of the
 * list is the funnel's order. See docs/milestones-and-targets.md.
 */

export const MILESTONES_FILE = 'milestones.json';
/** the anchor every deadline may count from besides another milestone */
export const FIRST_TOUCH = 'first-touch';
export const MAX_MILESTONES = 50;
const MAX_DEADLINE_DAYS = 3660;
const ID = /^[a-z][a-z0-9-]{0,63}$/;
const FIELD = /^[a-zA-Z][a-zA-Z0-9]{0,63}$/;

/** A condition on one payload field: equal to a value, one of values, or within bounds. */
export type FieldCondition =
  string | number | boolean | { in: (string | number | boolean)[] } | { gte?: number; gt?: number; lte?: number; lt?: number };

export interface MilestoneCondition {
  type: TouchpointType;
  /** the event's channel is one of these */
  channels?: Channel[];
  /** each named payload field satisfies its condition (absent fields never match) */
  where?: Record<string, FieldCondition>;
}

export interface MilestoneDeadline {
  days: number;
  /** `first-touch` or the id of another milestone */
  from: string;
}

export interface MilestoneDefinition {
  id: string;
  label: string;
  when: MilestoneCondition;
  deadline?: MilestoneDeadline;
}

export interface MilestoneDefinitions {
  milestones: MilestoneDefinition[];
  /**
   * Per milestone id, a fingerprint of its definition and of the milestones its deadline counts
   * from (what decides its outcome): milestone events carry it, so only a changed milestone is announced anew.
   */
  milestoneFingerprints: Record<string, string>;
  /** sha-256 of the canonical definitions: a change of any definition changes it (and rebuilds the read model) */
  fingerprint: string;
  /** where they came from: the file, or `built-in defaults` when the data directory has none */
  origin: string;
}

/** The definitions used when the data directory holds no milestones.json (the issue's examples). */
export const DEFAULT_MILESTONES: readonly MilestoneDefinition[] = [
  {
    id: 'onboarded',
    label: 'First purchase within 30 days of the first touch',
    when: { type: 'purchase.completed' },
    deadline: { days: 30, from: FIRST_TOUCH },
  },
  { id: 'first-issue-resolved', label: 'First case resolved', when: { type: 'case.resolved' } },
  { id: 'renewed', label: 'Subscription renewed or upgraded', when: { type: 'subscription.changed' } },
  { id: 'became-promoter', label: 'Answered NPS 9 or 10', when: { type: 'survey.answered', where: { nps: { gte: 9 } } } },
];

export interface ConfigProblem {
  path: string;
  reason: string;
}

/** A milestones file that cannot be used: every problem names its JSON path. */
export class MilestoneConfigError extends ConfigError {
  constructor(
    readonly file: string,
    readonly details: ConfigProblem[],
  ) {
    super(details.map((p) => `${file}: ${p.path}: ${p.reason}`));
    this.name = 'MilestoneConfigError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function checkKeys(value: Record<string, unknown>, allowed: string[], path: string, problems: ConfigProblem[]): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) problems.push({ path: `${path}.${key}`, reason: `unknown key (allowed: ${allowed.join(', ')})` });
}

function parseFieldCondition(value: unknown, path: string, problems: ConfigProblem[]): FieldCondition | undefined {
  if (isScalar(value)) return value;
  if (!isObject(value)) {
    problems.push({ path, reason: 'must be a string, number, boolean, {"in": [...]} or bounds {"gte"|"gt"|"lte"|"lt": number}' });
    return undefined;
  }
  if ('in' in value) {
    checkKeys(value, ['in'], path, problems);
    const list = value.in;
    if (!Array.isArray(list) || list.length === 0 || list.length > 100 || !list.every(isScalar)) {
      problems.push({ path: `${path}.in`, reason: 'must be a list of 1 to 100 strings, numbers or booleans' });
      return undefined;
    }
    return { in: list };
  }
  const bounds = ['gte', 'gt', 'lte', 'lt'];
  checkKeys(value, bounds, path, problems);
  const out: Record<string, number> = {};
  for (const b of bounds) {
    if (value[b] === undefined) continue;
    if (typeof value[b] !== 'number' || !Number.isFinite(value[b])) problems.push({ path: `${path}.${b}`, reason: 'must be a number' });
    else out[b] = value[b];
  }
  if (Object.keys(out).length === 0 && Object.keys(value).length === 0) problems.push({ path, reason: 'names no bound' });
  return out;
}

function parseCondition(value: unknown, path: string, problems: ConfigProblem[]): MilestoneCondition | undefined {
  if (!isObject(value)) {
    problems.push({ path, reason: 'must be an object with the event type: {"type": "purchase.completed"}' });
    return undefined;
  }
  checkKeys(value, ['type', 'channels', 'where'], path, problems);
  if (typeof value.type !== 'string') {
    problems.push({ path: `${path}.type`, reason: 'is required: a touch-point event type' });
    return undefined;
  }
  if (!isTouchpointType(value.type)) {
    problems.push({
      path: `${path}.type`,
      reason: `unknown event type "${value.type.slice(0, 80)}" (a touch-point type of the catalogue)`,
    });
    return undefined;
  }
  const condition: MilestoneCondition = { type: value.type };
  if (value.channels !== undefined) {
    const list = value.channels;
    if (!Array.isArray(list) || list.length === 0 || !list.every((c) => (CHANNELS as readonly unknown[]).includes(c)))
      problems.push({ path: `${path}.channels`, reason: `must be a non-empty list of ${CHANNELS.join(', ')}` });
    else condition.channels = list as Channel[];
  }
  if (value.where !== undefined) {
    if (!isObject(value.where) || Object.keys(value.where).length === 0 || Object.keys(value.where).length > 20) {
      problems.push({ path: `${path}.where`, reason: 'must be an object of 1 to 20 payload fields' });
    } else {
      const where: Record<string, FieldCondition> = {};
      for (const [field, cond] of Object.entries(value.where)) {
        if (!FIELD.test(field))
          problems.push({ path: `${path}.where.${field.slice(0, 80)}`, reason: 'not a payload field name (letters and digits)' });
        const parsed = parseFieldCondition(cond, `${path}.where.${field}`, problems);
        if (parsed !== undefined) where[field] = parsed;
      }
      condition.where = where;
    }
  }
  return condition;
}

/**
 * Validates milestone definitions (the parsed JSON of a milestones file). Throws a
 * MilestoneConfigError listing every problem with its JSON path; nothing is half-accepted.
 */
export function parseMilestoneDefinitions(json: unknown, origin: string): MilestoneDefinitions {
  const problems: ConfigProblem[] = [];
  if (!isObject(json) || !Array.isArray(json.milestones))
    throw new MilestoneConfigError(origin, [{ path: 'milestones', reason: 'is required: a list of milestones' }]);
  checkKeys(json, ['milestones'], '$', problems);
  const list = json.milestones;
  if (list.length === 0 || list.length > MAX_MILESTONES)
    problems.push({ path: 'milestones', reason: `must hold 1 to ${MAX_MILESTONES} milestones` });
  const milestones: MilestoneDefinition[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw, i) => {
    const path = `milestones[${i}]`;
    if (!isObject(raw)) return problems.push({ path, reason: 'must be an object' });
    checkKeys(raw, ['id', 'label', 'when', 'deadline'], path, problems);
    const id = raw.id;
    if (typeof id !== 'string' || !ID.test(id)) {
      problems.push({ path: `${path}.id`, reason: 'must be lower-case letters, digits and "-", starting with a letter (at most 64)' });
      return;
    }
    if (id === FIRST_TOUCH) problems.push({ path: `${path}.id`, reason: `"${FIRST_TOUCH}" is reserved for the first touch` });
    if (seen.has(id)) problems.push({ path: `${path}.id`, reason: `"${id}" is already the id of milestones[${seen.get(id)}]` });
    seen.set(id, i);
    if (raw.label !== undefined && (typeof raw.label !== 'string' || raw.label.length > 200))
      problems.push({ path: `${path}.label`, reason: 'must be a string of at most 200 characters' });
    const when = parseCondition(raw.when, `${path}.when`, problems);
    let deadline: MilestoneDeadline | undefined;
    if (raw.deadline !== undefined) {
      const d = raw.deadline;
      if (!isObject(d)) problems.push({ path: `${path}.deadline`, reason: 'must be {"days": n, "from": "first-touch" or a milestone id}' });
      else {
        checkKeys(d, ['days', 'from'], `${path}.deadline`, problems);
        if (typeof d.days !== 'number' || !Number.isInteger(d.days) || d.days < 0 || d.days > MAX_DEADLINE_DAYS)
          problems.push({ path: `${path}.deadline.days`, reason: `must be an integer from 0 to ${MAX_DEADLINE_DAYS}` });
        const from = d.from ?? FIRST_TOUCH;
        if (typeof from !== 'string')
          problems.push({ path: `${path}.deadline.from`, reason: `must be "${FIRST_TOUCH}" or a milestone id` });
        else deadline = { days: d.days as number, from };
      }
    }
    if (when) milestones.push({ id, label: typeof raw.label === 'string' ? raw.label : id, when, ...(deadline ? { deadline } : {}) });
  });
  // deadlines count from the first touch or from another milestone: the milestone must exist, and no cycle
  milestones.forEach((m) => {
    const from = m.deadline?.from;
    if (from === undefined || from === FIRST_TOUCH) return;
    const i = seen.get(m.id)!;
    if (!seen.has(from))
      return problems.push({ path: `milestones[${i}].deadline.from`, reason: `unknown milestone "${from.slice(0, 80)}"` });
    const chain = [m.id];
    let next: string | undefined = from;
    while (next !== undefined && next !== FIRST_TOUCH) {
      chain.push(next);
      if (next === m.id) return problems.push({ path: `milestones[${i}].deadline.from`, reason: `cycle: ${chain.join(' -> ')}` });
      if (chain.length > milestones.length + 1) return; // a cycle not through m: reported on its own members
      next = milestones.find((x) => x.id === next)?.deadline?.from;
    }
  });
  if (problems.length > 0) throw new MilestoneConfigError(origin, problems);
  const milestoneFingerprints: Record<string, string> = {};
  for (const m of milestones) {
    const chain = [m];
    for (let from = m.deadline?.from; from !== undefined && from !== FIRST_TOUCH;) {
      const anchor = milestones.find((x) => x.id === from)!;
      chain.push(anchor);
      from = anchor.deadline?.from;
    }
    milestoneFingerprints[m.id] = fingerprintOf(chain).slice(0, 16);
  }
  return { milestones, milestoneFingerprints, fingerprint: fingerprintOf(milestones), origin };
}

function fingerprintOf(milestones: MilestoneDefinition[]): string {
  return createHash('sha256').update(canonicalJson(milestones)).digest('hex');
}

/** JSON with object keys sorted: the same definitions always give the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value))
    return `{${Object.keys(value)
      .sort()
      .filter((k) => value[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/**
 * The definitions of a data directory: `<dataDir>/milestones.json`, or the built-in defaults when
 * there is none. Throws MilestoneConfigError (naming the file and each JSON path) on a file that
 * is not valid JSON or not valid definitions.
 */
export function loadMilestoneDefinitions(dataDir: string | undefined): MilestoneDefinitions {
  const file = dataDir === undefined ? undefined : join(dataDir, MILESTONES_FILE);
  if (file === undefined || !existsSync(file)) return parseMilestoneDefinitions({ milestones: DEFAULT_MILESTONES }, 'built-in defaults');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MilestoneConfigError(file, [{ path: '$', reason: `not valid JSON (${e instanceof Error ? e.message : String(e)})` }]);
  }
  return parseMilestoneDefinitions(json, file);
}

/** Whether a touch point meets a milestone's condition. */
export function meetsCondition(condition: MilestoneCondition, type: string, channel: string | undefined, data: unknown): boolean {
  if (type !== condition.type) return false;
  if (condition.channels && (channel === undefined || !condition.channels.includes(channel as Channel))) return false;
  if (!condition.where) return true;
  const payload = isObject(data) ? data : {};
  for (const [field, cond] of Object.entries(condition.where)) {
    const value = Object.prototype.hasOwnProperty.call(payload, field) ? payload[field] : undefined;
    if (value === undefined || value === null) return false;
    if (isScalar(cond)) {
      if (value !== cond) return false;
    } else if ('in' in cond) {
      if (!cond.in.includes(value as string)) return false;
    } else {
      if (typeof value !== 'number') return false;
      if (cond.gte !== undefined && !(value >= cond.gte)) return false;
      if (cond.gt !== undefined && !(value > cond.gt)) return false;
      if (cond.lte !== undefined && !(value <= cond.lte)) return false;
      if (cond.lt !== undefined && !(value < cond.lt)) return false;
    }
  }
  return true;
}
