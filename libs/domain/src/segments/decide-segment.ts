import type { SegmentArchivedV1, SegmentDefinition, SegmentSetV1 } from '../catalogue/payloads';
import { DomainValidationError, type FieldError } from '../errors';
import type { DomainEvent } from '../events';
import { deterministicUuid } from '../ids';

/** The prefix of every segment-definition stream: `segment-<segmentId>`. */
export const SEGMENT_STREAM_PREFIX = 'segment-';
export const segmentStreamId = (segmentId: string): string => `${SEGMENT_STREAM_PREFIX}${segmentId}`;
export const SEGMENT_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
export const SEGMENT_ID_RULE = 'must be 1 to 64 lower-case letters, digits and "-", starting with a letter or digit';
export const MAX_SEGMENT_NAME = 200;
export const MAX_SEGMENT_DESCRIPTION = 2000;
/** a consent purpose as `consent.changed` carries it: lower-case words joined by "-" */
export const CONSENT_PURPOSE = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** What the write side knows of a segment stream when it decides. */
export interface SegmentState {
  /** 0: no such segment; otherwise the version of its latest change */
  version: number;
  /** the stream's last revision (-1 when it does not exist) */
  revision: number;
  archived: boolean;
}

export type SegmentCommand =
  | { kind: 'create' | 'change'; segmentId: string; segment: SegmentDefinition; changedBy: string; occurredAt: string }
  | { kind: 'archive'; segmentId: string; changedBy: string; occurredAt: string };

export class SegmentExistsError extends Error {
  constructor(readonly segmentId: string) {
    super(`segment ${segmentId} already exists: change it with PUT`);
    this.name = 'SegmentExistsError';
  }
}
export class SegmentNotFoundError extends Error {
  constructor(readonly segmentId: string) {
    super(`no segment ${segmentId}`);
    this.name = 'SegmentNotFoundError';
  }
}
export class SegmentArchivedError extends Error {
  constructor(readonly segmentId: string) {
    super(`segment ${segmentId} is archived: it cannot be changed (create a new one)`);
    this.name = 'SegmentArchivedError';
  }
}

/**
 * The rules of a definition that do not depend on the rule language or the facts known (the rule
 * itself is checked by the caller with validateSegmentRule): every problem, each naming its field.
 */
export function segmentProblems(s: SegmentDefinition): FieldError[] {
  const problems: FieldError[] = [];
  if (typeof s.name !== 'string' || s.name.trim() === '' || s.name.length > MAX_SEGMENT_NAME)
    problems.push({ field: 'name', reason: `must be 1 to ${MAX_SEGMENT_NAME} characters` });
  if (typeof s.description !== 'string' || s.description.length > MAX_SEGMENT_DESCRIPTION)
    problems.push({ field: 'description', reason: `must be at most ${MAX_SEGMENT_DESCRIPTION} characters` });
  if (s.consentPurpose !== null && (typeof s.consentPurpose !== 'string' || !CONSENT_PURPOSE.test(s.consentPurpose)))
    problems.push({ field: 'consentPurpose', reason: 'must be a consent purpose (lower-case letters, digits, ".", "_", "-") or null' });
  if (typeof s.rule !== 'object' || s.rule === null || Array.isArray(s.rule))
    problems.push({ field: 'rule', reason: 'must be a rule object (docs/segments.md)' });
  return problems;
}

/**
 * Creating, changing or archiving a segment: one `segment.created` (version 1), `segment.changed`
 * or `segment.archived` (the next version) event. Pure: the time and the author come in with the
 * command; the id derives from the segment and its version, so a retried request is not recorded twice.
 */
export function decideSegment(
  command: SegmentCommand,
  state: SegmentState,
): DomainEvent<'segment.created' | 'segment.changed' | 'segment.archived'>[] {
  if (!SEGMENT_ID.test(command.segmentId)) throw new DomainValidationError([{ field: 'segmentId', reason: SEGMENT_ID_RULE }]);
  if (command.kind !== 'archive') {
    const problems = segmentProblems(command.segment);
    if (problems.length > 0) throw new DomainValidationError(problems);
  }
  if (command.kind === 'create' && state.version > 0) throw new SegmentExistsError(command.segmentId);
  if (command.kind !== 'create' && state.version === 0) throw new SegmentNotFoundError(command.segmentId);
  if (command.kind !== 'create' && state.archived) throw new SegmentArchivedError(command.segmentId);
  const version = state.version + 1;
  // not a customer's event: no customerId (customer-keyed read models skip it)
  const metadata = { schemaVersion: 1, occurredAt: command.occurredAt, source: 'cem.api' } as DomainEvent['metadata'];
  if (command.kind === 'archive') {
    const data: SegmentArchivedV1 = { segmentId: command.segmentId, version, changedBy: command.changedBy };
    return [
      { eventId: deterministicUuid('segment.archived', command.segmentId, String(version)), type: 'segment.archived', data, metadata },
    ];
  }
  const type = command.kind === 'create' ? 'segment.created' : 'segment.changed';
  const data: SegmentSetV1 = { segmentId: command.segmentId, version, segment: command.segment, changedBy: command.changedBy };
  return [{ eventId: deterministicUuid(type, command.segmentId, String(version)), type, data, metadata }];
}
