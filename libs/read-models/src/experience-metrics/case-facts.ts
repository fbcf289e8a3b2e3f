import type { ProjectedRecord } from '../projector/projected-record';
import { addCounter, addToMeasure, emptyTotals, type BucketTotals } from './bucket-totals';
import { binOf } from './quantile-bins';
import { NO_VALUE, type SliceValues } from './slices';

/*
 * Cases as cases: one CaseFacts per case id, whatever the number of events naming it, folded in
 * any order (each fact an order-independent aggregate, ties by log position), and what the case
 * adds to the buckets derived from the facts alone. When an event changes a case, the projection
 * takes the case's contribution out and puts the new one in, so a reopened and re-resolved case
 * moves to its final resolution, and a late earlier event moves its opening.
 */

export interface Stamp {
  at: string;
  pos: number;
}

const later = (a: Stamp, b: Stamp | undefined): boolean => b === undefined || a.at > b.at || (a.at === b.at && a.pos > b.pos);
const earlier = (a: Stamp, b: Stamp | undefined): boolean => b === undefined || a.at < b.at || (a.at === b.at && a.pos < b.pos);

export type CaseRecord = ProjectedRecord<
  'case.opened' | 'case.resolved' | 'case.reopened' | 'case.escalated' | 'case.assigned' | 'case.status-changed' | 'case.closed'
>;

export const isCaseRecord = (record: ProjectedRecord): record is CaseRecord => record.type.startsWith('case.');

export interface CaseFacts {
  caseId: string;
  lastPosition: number;
  /** the earliest event of the case, whatever its type, and the slices it gives (channel, source, segment, agent, analyst segments) */
  opening: Stamp & { channel: string; source: string; segment: string; agent: string | null; segmentIds?: readonly string[] };
  /** the earliest case.opened gives the category */
  category?: Stamp & { value: string | null };
  /** the latest status event: reopened / status-changed -> open, resolved, closed; none -> open */
  status?: Stamp & { value: 'open' | 'resolved' | 'closed' };
  /** the latest case.resolved, and whether it says first contact */
  resolved?: Stamp & { fcr?: boolean };
  /** the latest case.assigned with an assignee */
  assignee?: Stamp & { value: string };
  reopens: number;
  escalations: number;
}

/** The slices of an event, as the projection found them when it folded it. */
export interface EventSlices {
  channel: string;
  source: string;
  segment: string;
  /** the analyst segments the customer was in at the event's occurredAt */
  segmentIds: readonly string[];
}

/** Folds one case event into the case (created when absent). */
export function foldCase(facts: CaseFacts | undefined, record: CaseRecord, slices: EventSlices): CaseFacts {
  const stamp: Stamp = { at: record.metadata.occurredAt, pos: record.position };
  const c: CaseFacts = facts ?? {
    caseId: record.data.caseId,
    lastPosition: 0,
    opening: { ...stamp, ...slices, agent: record.metadata.agentId ?? null },
    reopens: 0,
    escalations: 0,
  };
  c.lastPosition = Math.max(c.lastPosition, record.position);
  if (earlier(stamp, c.opening)) c.opening = { ...stamp, ...slices, agent: record.metadata.agentId ?? null };
  const status = (value: 'open' | 'resolved' | 'closed') => {
    if (later(stamp, c.status)) c.status = { ...stamp, value };
  };
  switch (record.type) {
    case 'case.opened':
      if (earlier(stamp, c.category)) c.category = { ...stamp, value: record.data.category ?? null };
      break;
    case 'case.resolved':
      status('resolved');
      if (later(stamp, c.resolved)) c.resolved = { ...stamp, fcr: record.data.firstContactResolution };
      break;
    case 'case.reopened':
      c.reopens++;
      status('open');
      break;
    case 'case.status-changed':
      status('open');
      break;
    case 'case.closed':
      status('closed');
      break;
    case 'case.escalated':
      c.escalations++;
      break;
    case 'case.assigned':
      if (record.data.assignee !== undefined && later(stamp, c.assignee)) c.assignee = { ...stamp, value: record.data.assignee };
      break;
  }
  return c;
}

/** The slices a case's figures are counted under. */
export function caseSlices(c: CaseFacts): SliceValues {
  return {
    channel: c.opening.channel,
    source: c.opening.source,
    segment: c.opening.segment,
    agent: c.assignee?.value ?? c.opening.agent ?? NO_VALUE,
    category: c.category?.value ?? NO_VALUE,
    segmentIds: c.opening.segmentIds ?? [],
  };
}

/** What a case adds to the buckets: totals at instants, under the case's slices. */
export interface Contribution {
  at: string;
  totals: BucketTotals;
}

export function caseContribution(c: CaseFacts): Contribution[] {
  const atOpening = emptyTotals();
  addCounter(atOpening, 'casesOpened', 1);
  if (c.reopens > 0) addCounter(atOpening, 'casesReopened', 1);
  if (c.escalations > 0) addCounter(atOpening, 'casesEscalated', 1);
  const out: Contribution[] = [{ at: c.opening.at, totals: atOpening }];
  const status = c.status?.value ?? 'open';
  if (status === 'open') return out;
  const atFinish = emptyTotals();
  addCounter(atFinish, 'casesFinished', 1);
  out.push({ at: c.status!.at, totals: atFinish });
  if (c.resolved) {
    const atResolution = emptyTotals();
    // whole milliseconds: sums that go up and down again stay exact
    const ms = Math.max(0, Date.parse(c.resolved.at) - Date.parse(c.opening.at));
    addCounter(atResolution, 'casesResolved', 1);
    addCounter(atResolution, 'resolutionMsSum', ms);
    addToMeasure(atResolution, 'resolutionSeconds', binOf(ms / 1000), 1);
    if (c.resolved.fcr !== undefined) {
      addCounter(atResolution, 'casesFcrKnown', 1);
      if (c.resolved.fcr) addCounter(atResolution, 'casesFcr', 1);
    }
    out.push({ at: c.resolved.at, totals: atResolution });
  }
  return out;
}
