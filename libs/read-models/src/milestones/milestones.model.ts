import { parseIsoInstant } from '@cem/domain';
import type { CustomerKeyedState, CustomerModel } from '../kit/customer-states';
import type { ProjectedRecord } from '../projector/projected-record';
import { isTouchpointRecord } from '../projector/projected-record';
import { FIRST_TOUCH, meetsCondition, type MilestoneDefinition } from './milestone-definitions';

/** A touch point's instant (UTC ISO-8601, comparable as text) and log position: the earliest wins, ties by position. */
export interface Occurrence {
  at: string;
  position: number;
}

/**
 * What the read model folds per customer: order-independent minimums, so a late event lands where
 * it belongs and a merge is the minimum of both histories.
 */
export interface MilestonesState extends CustomerKeyedState {
  firstTouch: Occurrence | null;
  /** the earliest touch point meeting each milestone's condition, by milestone id */
  matches: Record<string, Occurrence>;
  /** the latest milestone.reached / milestone.missed event of each milestone in this customer's streams */
  announced: Record<string, Announcement>;
}

/** A milestone event already in the log: what it said, under which definition of the milestone. */
export interface Announcement {
  kind: 'reached' | 'missed';
  definition: string;
  position: number;
}

const earlier = (a: Occurrence | null | undefined, b: Occurrence): boolean =>
  !a || b.at < a.at || (b.at === a.at && b.position < a.position);

/** An instant as UTC ISO-8601 with milliseconds: text order is time order. */
export const utcInstant = (iso: string): string => new Date(parseIsoInstant(iso) ?? Date.parse(iso)).toISOString();

export const milestonesModel: CustomerModel<MilestonesState> = {
  empty: (customerId) => ({ customerId, mergedInto: null, lastPosition: 0, firstTouch: null, matches: {}, announced: {} }),
  absorb(survivor, merged) {
    if (merged.firstTouch && earlier(survivor.firstTouch, merged.firstTouch)) survivor.firstTouch = merged.firstTouch;
    for (const [id, m] of Object.entries(merged.matches)) if (earlier(survivor.matches[id], m)) survivor.matches[id] = m;
    // the survivor's own announcements stand; the merged-away customer's fill the gaps (a combined
    // outcome that differs from what was announced is announced again, for the survivor)
    for (const [id, a] of Object.entries(merged.announced)) survivor.announced[id] ??= a;
  },
};

/** Folds one event of the customer into its state; system events (registrations, milestone events) are not touch points. */
export function evolveMilestones(state: MilestonesState, record: ProjectedRecord, milestones: readonly MilestoneDefinition[]): void {
  if (record.type === 'milestone.reached' || record.type === 'milestone.missed') {
    const previous = state.announced[record.data.milestoneId];
    if (!previous || record.position > previous.position)
      state.announced[record.data.milestoneId] = {
        kind: record.type === 'milestone.reached' ? 'reached' : 'missed',
        definition: record.data.definition,
        position: record.position,
      };
    return;
  }
  if (!isTouchpointRecord(record)) return;
  const occurrence: Occurrence = { at: utcInstant(record.metadata.occurredAt), position: record.position };
  if (earlier(state.firstTouch, occurrence)) state.firstTouch = occurrence;
  for (const m of milestones) {
    if (meetsCondition(m.when, record.type, record.metadata.channel, record.data) && earlier(state.matches[m.id], occurrence)) {
      state.matches[m.id] = occurrence;
    }
  }
}

export interface MilestoneProgress {
  milestoneId: string;
  matchedAt: string | null;
  reachedAt: string | null;
  reachedPosition: number | null;
  /** from this instant, if not reached, the milestone is missed */
  missedAt: string | null;
  deadlineAt: string | null;
  secondsToReach: number | null;
}

const DAY_MS = 86_400_000;

/**
 * What the definitions make of a customer's facts, in definition order. A milestone is reached by
 * its earliest matching touch point when that came at or before its deadline (or it has none).
 * The deadline counts from the first touch or from the reaching of another milestone; a milestone
 * whose anchor milestone is never reached in time is missed when its anchor is.
 */
export function progressOf(state: MilestonesState, milestones: readonly MilestoneDefinition[]): MilestoneProgress[] {
  const firstTouch = state.firstTouch;
  if (!firstTouch) return [];
  const byId = new Map(milestones.map((m) => [m.id, m]));
  const done = new Map<string, MilestoneProgress>();
  const evaluate = (m: MilestoneDefinition): MilestoneProgress => {
    const known = done.get(m.id);
    if (known) return known;
    const match = state.matches[m.id] ?? null;
    let deadlineAt: string | null = null;
    let inheritedMissedAt: string | null = null;
    let inTime = match !== null;
    if (m.deadline) {
      const from = m.deadline.from;
      // definitions are validated acyclic: the recursion ends
      const anchor = from === FIRST_TOUCH ? { reachedAt: firstTouch.at, missedAt: null } : evaluate(byId.get(from)!);
      if (anchor.reachedAt !== null) {
        deadlineAt = new Date(Date.parse(anchor.reachedAt) + m.deadline.days * DAY_MS).toISOString();
        inTime = match !== null && match.at <= deadlineAt;
      } else {
        inTime = false;
        inheritedMissedAt = anchor.missedAt;
      }
    }
    const reachedAt = inTime ? match!.at : null;
    const progress: MilestoneProgress = {
      milestoneId: m.id,
      matchedAt: match?.at ?? null,
      reachedAt,
      reachedPosition: inTime ? match!.position : null,
      missedAt: reachedAt !== null ? null : (deadlineAt ?? inheritedMissedAt),
      deadlineAt,
      secondsToReach: reachedAt !== null ? Math.round((Date.parse(reachedAt) - Date.parse(firstTouch.at)) / 1000) : null,
    };
    done.set(m.id, progress);
    return progress;
  };
  return milestones.map(evaluate);
}

export type MilestoneStatus = 'reached' | 'missed' | 'open';

/** A milestone's status at an instant (ISO-8601 UTC). */
export const statusAt = (p: { reachedAt: string | null; missedAt: string | null }, asOf: string): MilestoneStatus =>
  p.reachedAt !== null ? 'reached' : p.missedAt !== null && p.missedAt <= asOf ? 'missed' : 'open';
