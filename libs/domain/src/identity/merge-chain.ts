/** Longest merge chain followed before giving up: real chains are a few hops; a longer one is a cycle or corruption. */
export const MAX_MERGE_HOPS = 64;

export class MergeChainTooLongError extends Error {
  constructor(readonly customerId: string) {
    super(`the merge chain of customer ${customerId} is longer than ${MAX_MERGE_HOPS} hops (a cycle?)`);
    this.name = 'MergeChainTooLongError';
  }
}

/**
 * The customer a customer id resolves to now: itself unless it was merged away, else the end of
 * its merged-into chain. `mergedIntoOf` says where one id points (null: not merged; undefined:
 * unknown, which ends the walk there). Every follower of merges (identity registries, ingestion,
 * customer-keyed read models, signals) walks chains with this one function.
 */
export function followMergeChain(customerId: string, mergedIntoOf: (id: string) => string | null | undefined): string {
  let id = customerId;
  for (let hops = 0; hops < MAX_MERGE_HOPS; hops++) {
    const next = mergedIntoOf(id);
    if (next === null || next === undefined || next === id) return id;
    id = next;
  }
  throw new MergeChainTooLongError(customerId);
}
