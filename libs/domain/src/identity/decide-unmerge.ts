import type { CustomersUnmergedV1 } from '../catalogue/payloads';
import type { DomainEvent } from '../events';
import { deterministicUuid } from '../ids';

/** Why an unmerge was refused; nothing was changed. `field` names the input at fault. */
export class UnmergeRefusedError extends Error {
  constructor(
    readonly field: 'customerId' | 'split' | 'identifiers' | 'reason' | 'configuration',
    readonly code:
      | 'unknown-customer'
      | 'merged-away'
      | 'never-merged'
      | 'already-unmerged'
      | 'not-in-merge'
      | 'missing-reason'
      | 'invalid'
      | 'not-available',
    message: string,
  ) {
    super(message);
    this.name = 'UnmergeRefusedError';
  }
}

/** A merge into the survivor as its stream records it (`customers.merged` on the survivor's stream). */
export interface RecordedMerge {
  mergeId: string;
  position: number;
  mergedIds: readonly string[];
}

/** What the unmerge asks to split off: a merged-away customer and, optionally, the identifiers it takes. */
export interface SplitRequest {
  splitId: string;
  /** identifier keys (`kind:value`, normalised); absent: every identifier it brought to the merge */
  identifiers?: readonly string[];
}

/** What the write side read before deciding (the survivor's stream, the split customers' histories). */
export interface UnmergeFacts {
  survivorId: string;
  /** merges recorded on the survivor's stream, in log order */
  merges: readonly RecordedMerge[];
  /** merge ids already undone (by a `customers.unmerged` on the survivor's stream), with the customer split off */
  undone: readonly { mergeId: string; splitId: string }[];
  /** per split customer: the identifier keys it brought to the merge and the customers merged into it before */
  brought: ReadonlyMap<string, { identifiers: readonly string[]; restoredIds: readonly string[] }>;
  /** the events of the survivor's stream, with the identifier keys (`kind:value`) each carried */
  survivorEvents: readonly { eventId: string; position: number; identifiers: readonly string[] }[];
}

export const MAX_UNMERGE_REASON = 500;

/** Id of the `customers.unmerged` event undoing `mergeId` for `splitId`: the same request always gives the same id. */
export const unmergeEventId = (mergeId: string, splitId: string): string => deterministicUuid('customers.unmerged', mergeId, splitId);

/**
 * The unmerge decision: for each customer to split off, the merge into the survivor that took it,
 * the identifiers it takes back (all it brought unless named; naming one it did not bring is
 * refused) and the `customers.unmerged` event recording the evidence. Refuses the whole request
 * on the first problem (nothing half-done). Pure: time and actor come in.
 */
export function decideUnmerge(
  facts: UnmergeFacts,
  request: {
    splits: readonly SplitRequest[];
    reason: string | undefined;
    requestedBy: CustomersUnmergedV1['requestedBy'];
    now: string;
    /** how the identity registry keys an identifier (`kind:value` -> its key; the blind index when on) */
    indexKeyOf?: (key: string) => string;
  },
): DomainEvent<'customers.unmerged'>[] {
  const reason = request.reason?.trim() ?? '';
  if (reason === '')
    throw new UnmergeRefusedError('reason', 'missing-reason', 'reason: required (why the merge is undone, e.g. a case reference)');
  if (reason.length > MAX_UNMERGE_REASON)
    throw new UnmergeRefusedError('reason', 'missing-reason', `reason: at most ${MAX_UNMERGE_REASON} characters`);
  if (request.splits.length === 0) throw new UnmergeRefusedError('split', 'invalid', 'split: name at least one merged-away customer');
  const seen = new Set<string>();
  const events: DomainEvent<'customers.unmerged'>[] = [];
  for (const split of request.splits) {
    if (seen.has(split.splitId)) throw new UnmergeRefusedError('split', 'invalid', `split: ${split.splitId} is named twice`);
    seen.add(split.splitId);
    if (split.splitId === facts.survivorId)
      throw new UnmergeRefusedError('split', 'invalid', `split: ${split.splitId} is the customer being unmerged, not one merged into it`);
    // the last merge that took it: a customer merged, unmerged and merged again is split from the latest
    const merge = [...facts.merges].reverse().find((m) => m.mergedIds.includes(split.splitId));
    if (!merge)
      throw new UnmergeRefusedError(
        'split',
        'never-merged',
        `split: customer ${split.splitId} was never merged into ${facts.survivorId} (only a customer a merge into it took can be split off)`,
      );
    if (facts.undone.some((u) => u.mergeId === merge.mergeId && u.splitId === split.splitId))
      throw new UnmergeRefusedError(
        'split',
        'already-unmerged',
        `split: the merge of ${split.splitId} into ${facts.survivorId} is already undone`,
      );
    const brought = facts.brought.get(split.splitId) ?? { identifiers: [], restoredIds: [] };
    let identifiers = [...brought.identifiers].sort();
    if (split.identifiers !== undefined) {
      const foreign = split.identifiers.filter((k) => !brought.identifiers.includes(k));
      if (foreign.length > 0)
        // the count, not the values: identifiers are personal data and this message may be logged
        throw new UnmergeRefusedError(
          'identifiers',
          'not-in-merge',
          `identifiers: ${foreign.length} of the identifiers named were not brought to the merge by ${split.splitId}`,
        );
      identifiers = [...new Set(split.identifiers)].sort();
    }
    // the attribution rule: after the merge, an event carrying only identifiers moved to the split customer is its
    const reattributedEventIds = facts.survivorEvents
      .filter((e) => e.position > merge.position && e.identifiers.length > 0 && e.identifiers.every((k) => identifiers.includes(k)))
      .map((e) => e.eventId);
    const keyOf = request.indexKeyOf ?? ((k: string) => k);
    events.push({
      eventId: unmergeEventId(merge.mergeId, split.splitId),
      type: 'customers.unmerged',
      data: {
        survivorId: facts.survivorId,
        splitId: split.splitId,
        restoredIds: [...brought.restoredIds].sort(),
        mergeId: merge.mergeId,
        mergePosition: merge.position,
        identifiers: identifiers.map(keyOf).sort(),
        reattributedEventIds,
        requestedBy: request.requestedBy,
        reason,
        unmergedAt: request.now,
      },
      metadata: {
        schemaVersion: 1,
        occurredAt: request.now,
        customerId: facts.survivorId,
        source: 'cem/unmerge',
        causationId: merge.mergeId,
      },
    });
  }
  return events;
}
