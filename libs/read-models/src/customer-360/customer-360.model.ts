import { PLAIN_IDENTIFIER_INDEX, type Identifier, type IdentifierIndex } from '@cem/domain';
import type { CustomerModel, MergeFacts, UnmergeFacts } from '../kit/customer-states';
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

/**
 * The identifiers of the split customer's state that an unmerge moved to it, by kind: those whose key
 * (as `index` keys them, like the registry and the unmerge's record) the unmerge lists. When none of
 * them is listed the list cannot be read here (it reads as removed once the key sealing it is
 * destroyed, or it is keyed by a blind index this fold was not given): then every identifier of the
 * split customer's refolded state counts as moved, as after an unmerge of all it brought.
 */
function movedIdentifiers(split: Customer360State, unmerge: UnmergeFacts, index: IdentifierIndex): Record<string, string[]> {
  const listed = new Set(unmerge.identifiers);
  const moved: Record<string, string[]> = {};
  for (const [kind, values] of Object.entries(split.identifiers)) {
    const named = values.filter((value) => listed.has(index.keyOf({ kind, value } as Identifier)));
    if (named.length > 0) moved[kind] = named;
  }
  return Object.keys(moved).length > 0 ? moved : split.identifiers;
}

/**
 * The customer 360 on the customer-keyed kit: its empty state, its fold, how a merge combines two and
 * how an unmerge is noted. `index` keys identifiers as the identity registry does (the blind index
 * with privacy on): an unmerge's record names the identifiers it moved that way.
 */
export function customer360ModelFor(index: IdentifierIndex): CustomerModel<Customer360State> {
  return {
    ...customer360Model,
    noteUnmerge: (survivor, split, unmerge, stage, merge) => noteUnmerge(survivor, split, unmerge, stage, merge, index),
  };
}

/** The customer 360 with identifiers keyed in plain (privacy off). */
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
  noteUnmerge: (survivor, split, unmerge, stage, merge) => noteUnmerge(survivor, split, unmerge, stage, merge, PLAIN_IDENTIFIER_INDEX),
};

// the merge history keeps both events: the merge (as it was) and its undoing, on both customers
function noteUnmerge(
  survivor: Customer360State,
  split: Customer360State,
  unmerge: UnmergeFacts,
  stage: 'merged' | 'unmerged',
  merge: MergeFacts | undefined,
  index: IdentifierIndex,
): void {
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
    // the identifiers moved are the split customer's again, even where an event of the survivor named them
    // too (the merge's trigger); those a partial unmerge did not name stay the survivor's, as in the
    // identity registry (docs/identity.md, "Unmerge")
    for (const [kind, theirs] of Object.entries(movedIdentifiers(split, unmerge, index))) {
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
}
