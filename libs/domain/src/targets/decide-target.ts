import type { TargetDefinition, TargetSetV1 } from '../catalogue/payloads';
import { DomainValidationError, type FieldError } from '../errors';
import type { DomainEvent } from '../events';
import { deterministicUuid } from '../ids';
import { isCalendarDate } from '../values';

/** The prefix of every target stream: `target-<targetId>`. */
export const TARGET_STREAM_PREFIX = 'target-';
export const targetStreamId = (targetId: string): string => `${TARGET_STREAM_PREFIX}${targetId}`;
export const TARGET_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
export const TARGET_DIRECTIONS = ['at-least', 'at-most'] as const;
export const TARGET_BUCKETS = ['week', 'month'] as const;
/** longest period a target may span (start to due date), in days: 10 years */
export const MAX_TARGET_DAYS = 3660;
const MAX_THRESHOLD = 1e12;

/** What the write side knows of a target stream when it decides. */
export interface TargetState {
  /** 0: no such target; otherwise the version of its latest definition */
  version: number;
  /** the stream's last revision (-1 when it does not exist) */
  revision: number;
}

export interface SetTarget {
  kind: 'create' | 'change';
  targetId: string;
  target: TargetDefinition;
  changedBy: string;
  occurredAt: string;
}

export class TargetExistsError extends Error {
  constructor(readonly targetId: string) {
    super(`target ${targetId} already exists: change it with PUT`);
    this.name = 'TargetExistsError';
  }
}
export class TargetNotFoundError extends Error {
  constructor(readonly targetId: string) {
    super(`no target ${targetId}`);
    this.name = 'TargetNotFoundError';
  }
}

const daysBetween = (from: string, to: string) => (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;

/**
 * The rules of a target definition that do not depend on the metrics catalogue (the metric and
 * slice names are checked by the caller against it): every problem, each naming its field.
 */
export function targetProblems(t: TargetDefinition): FieldError[] {
  const problems: FieldError[] = [];
  if (typeof t.name !== 'string' || t.name.trim() === '' || t.name.length > 200)
    problems.push({ field: 'name', reason: 'must be 1 to 200 characters' });
  if (!(TARGET_DIRECTIONS as readonly string[]).includes(t.direction))
    problems.push({ field: 'direction', reason: `must be one of ${TARGET_DIRECTIONS.join(', ')}` });
  if (!(TARGET_BUCKETS as readonly string[]).includes(t.bucket))
    problems.push({ field: 'bucket', reason: `must be one of ${TARGET_BUCKETS.join(', ')}` });
  if (typeof t.threshold !== 'number' || !Number.isFinite(t.threshold) || Math.abs(t.threshold) > MAX_THRESHOLD)
    problems.push({ field: 'threshold', reason: `must be a number from -${MAX_THRESHOLD} to ${MAX_THRESHOLD}` });
  const start = isCalendarDate(t.startDate);
  const due = isCalendarDate(t.dueDate);
  if (!start) problems.push({ field: 'startDate', reason: 'must be a calendar date YYYY-MM-DD' });
  if (!due) problems.push({ field: 'dueDate', reason: 'must be a calendar date YYYY-MM-DD' });
  if (start && due) {
    const days = daysBetween(t.startDate, t.dueDate);
    if (days < 0) problems.push({ field: 'dueDate', reason: `is before startDate (${t.startDate})` });
    else if (days > MAX_TARGET_DAYS) problems.push({ field: 'dueDate', reason: `at most ${MAX_TARGET_DAYS} days after startDate` });
  }
  return problems;
}

/**
 * Creating or changing a target: one `target.created` (version 1) or `target.changed` (next
 * version) event with the whole definition. Pure: the time and the author come in with the command;
 * the id is derived from the target and its version, so a retried request is not recorded twice.
 */
export function decideSetTarget(command: SetTarget, state: TargetState): DomainEvent<'target.created' | 'target.changed'>[] {
  if (!TARGET_ID.test(command.targetId))
    throw new DomainValidationError([
      { field: 'targetId', reason: 'must be 1 to 64 lower-case letters, digits and "-", starting with a letter or digit' },
    ]);
  const problems = targetProblems(command.target);
  if (problems.length > 0) throw new DomainValidationError(problems);
  if (command.kind === 'create' && state.version > 0) throw new TargetExistsError(command.targetId);
  if (command.kind === 'change' && state.version === 0) throw new TargetNotFoundError(command.targetId);
  const version = state.version + 1;
  const type = command.kind === 'create' ? 'target.created' : 'target.changed';
  const data: TargetSetV1 = { targetId: command.targetId, version, target: command.target, changedBy: command.changedBy };
  return [
    {
      eventId: deterministicUuid(type, command.targetId, String(version)),
      type,
      data,
      // not a customer's event: no customerId (customer-keyed read models skip it)
      metadata: { schemaVersion: 1, occurredAt: command.occurredAt, source: 'cem.api' } as DomainEvent['metadata'],
    },
  ];
}
