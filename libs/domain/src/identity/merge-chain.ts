/** Longest merge chain followed before giving up: real chains are a few hops; a longer one is a cycle or corruption. */
export const MAX_MERGE_HOPS = 64;

export class MergeChainTooLongError extends Error {
  constructor(readonly customerId: string) {
    super(`the merge chain of customer ${customerId} is longer than ${MAX_MERGE_HOPS} hops (a cycle?)`);
    this.name = 'MergeChainTooLongError';
  }
}

/**
 * The walk of a merged-into chain, written once for the sync and async followers below: it yields
 * the id it stands on and is answered with where that id points.
 */
function* mergeChainWalk(customerId: string): Generator<string, string, string | null | undefined> {
  let id = customerId;
  for (let hops = 0; hops < MAX_MERGE_HOPS; hops++) {
    const next = yield id;
    if (next === null || next === undefined || next === id) return id;
    id = next;
  }
  throw new MergeChainTooLongError(customerId);
}

/**
 * The customer a customer id resolves to now: itself unless it was merged away, else the end of
 * its merged-into chain. `mergedIntoOf` says where one id points (null: not merged; undefined:
 * unknown, which ends the walk there). Every follower of merges (identity registries, ingestion,
 * customer-keyed read models, signals) walks chains with this one function (or its async twin).
 */
export function followMergeChain(customerId: string, mergedIntoOf: (id: string) => string | null | undefined): string {
  const walk = mergeChainWalk(customerId);
  for (let step = walk.next(); ; step = walk.next(mergedIntoOf(step.value))) if (step.done) return step.value;
}

/** followMergeChain for a `mergedIntoOf` that has to read (a registry on a remote store). */
export async function followMergeChainAsync(
  customerId: string,
  mergedIntoOf: (id: string) => Promise<string | null | undefined>,
): Promise<string> {
  const walk = mergeChainWalk(customerId);
  for (let step = walk.next(); ; step = walk.next(await mergedIntoOf(step.value))) if (step.done) return step.value;
}
