import type { SliceValues } from './slices';

/*
 * Repeat contacts: a handled contact with a reason is a repeat when the same customer (merged
 * customers as one) had an earlier contact with the same reason at most the window before it.
 * "Earlier" is by occurredAt, ties by log position. A contact is counted in its own bucket, so a
 * late contact, or a merge bringing another customer's contacts, can turn contacts already counted
 * into repeats; nothing turns a repeat back (contacts are only ever added), except an unmerge, which
 * recounts its customers' contacts as if the merge had not happened.
 */

/** One handled contact with a reason, as kept per customer. */
export interface ReasonedContact {
  occurredAt: string;
  position: number;
  reason: string;
  /** the slices the contact was counted under */
  slices: SliceValues;
  repeat: boolean;
}

const instant = (c: ReasonedContact): number => Date.parse(c.occurredAt);
const before = (a: ReasonedContact, b: ReasonedContact): boolean =>
  instant(a) < instant(b) || (instant(a) === instant(b) && a.position < b.position);

/**
 * Adds contacts to a customer's history (kept in time order) and marks the repeats; returns the
 * contacts whose mark changed to repeat (the added ones included), for the caller to count.
 */
export function addContacts(history: ReasonedContact[], added: readonly ReasonedContact[], windowMs: number): ReasonedContact[] {
  for (const contact of added) {
    let at = history.length;
    while (at > 0 && before(contact, history[at - 1])) at--;
    history.splice(at, 0, contact);
  }
  const newly: ReasonedContact[] = [];
  // the latest earlier contact per reason is the nearest one: one pass in time order
  const latestByReason = new Map<string, number>();
  for (const contact of history) {
    const previous = latestByReason.get(contact.reason);
    if (!contact.repeat && previous !== undefined && instant(contact) - previous <= windowMs) {
      contact.repeat = true;
      newly.push(contact);
    }
    latestByReason.set(contact.reason, instant(contact));
  }
  return newly;
}
