import type { CustomerModel, MergeFacts } from '../kit/customer-states';
import { emptyCustomer360, type Customer360State, type MergeRecord } from './customer-360.state';
import { absorbCustomer, evolveCustomer360 } from './evolve';

const byPosition = (a: { position: number }, b: { position: number }) => a.position - b.position;

/** The survivor's record of a merge that took `mergedId`. */
const absorbedRecord = (merge: MergeFacts, mergedId: string): Extract<MergeRecord, { kind: 'absorbed' }> => ({
  kind: 'absorbed',
  mergeId: merge.mergeId,
  mergedIds: [mergedId],
  at: merge.at,
  position: merge.position,
  rule: merge.rule,
  survivorRule: merge.survivorRule,
  identifiers: [...merge.identifiers],
});

/** The customer 360 on the customer-keyed kit: its empty state, its fold, how a merge combines two and how an unmerge is noted. */
export const customer360Model: CustomerModel<Customer360State> = {
  empty: emptyCustomer360,
  absorb(survivor, merged, merge) {
    absorbCustomer(survivor, merged, absorbedRecord(merge, merged.customerId));
    // the merged-away customer's own view says where its history went
    merged.merges.push({ kind: 'merged-into', survivorId: survivor.customerId, at: merge.at, position: merge.position });
  },
  evolve(state, record) {
    evolveCustomer360(state, record);
  },
  // the merge history keeps both events: the merge (as it was) and its undoing, on both customers
  noteUnmerge(survivor, split, unmerge, stage, merge) {
    if (stage === 'merged' && merge) {
      survivor.merges.push(absorbedRecord(merge, split.customerId));
      split.merges.push({ kind: 'merged-into', survivorId: survivor.customerId, at: merge.at, position: merge.position });
    } else if (stage === 'unmerged') {
      const note = {
        kind: 'unmerged' as const,
        mergeId: unmerge.mergeId,
        survivorId: unmerge.survivorId,
        splitId: unmerge.splitId,
        at: unmerge.at,
        position: unmerge.position,
      };
      // the split customer's identifiers are its own again, even where an event of the survivor named them too (the merge's trigger)
      for (const [kind, theirs] of Object.entries(split.identifiers)) {
        const values = survivor.identifiers[kind]?.filter((v) => !theirs.includes(v));
        if (values === undefined) continue;
        if (values.length > 0) survivor.identifiers[kind] = values;
        else delete survivor.identifiers[kind];
      }
      for (const s of [survivor, split])
        if (!s.merges.some((m) => m.kind === 'unmerged' && m.position === note.position)) s.merges.push({ ...note });
    }
    survivor.merges.sort(byPosition);
    split.merges.sort(byPosition);
  },
};
