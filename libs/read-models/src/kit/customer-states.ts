import { customerIdOfStream, followMergeChain } from '@cem/domain';
import type { ProjectedRecord } from '../projector/projected-record';

/** What every customer-keyed read model keeps per customer id, whatever else it keeps. */
export interface CustomerKeyedState {
  customerId: string;
  /** the live survivor once this customer was merged away (kept current across chains); null while live */
  mergedInto: string | null;
  /** last log position applied to this customer: an event at or below it is already folded in */
  lastPosition: number;
}

/** A merge as the read side sees it, from `customers.merged` or a `customer.merged-into` pointer. */
export interface MergeFacts {
  /** the merge's own id: the `customers.merged` event (a pointer names it as its causation) */
  mergeId: string;
  survivorId: string;
  mergedIds: readonly string[];
  at: string;
  position: number;
  rule: string;
  survivorRule: string;
  /** identifier keys that proved the merge (personal data: stays in the read store) */
  identifiers: readonly string[];
}

/** How one read model creates and combines its per-customer state; the kit does the rest. */
export interface CustomerModel<S extends CustomerKeyedState> {
  empty(customerId: string): S;
  /**
   * Folds a merged-away customer's state into the survivor's. It must combine every fact the way
   * folding the events does, so "A, then merge B into A" equals folding all of both histories.
   */
  absorb(survivor: S, merged: S, merge: MergeFacts): void;
}

/** Where a record goes, as decided by CustomerStates.route. */
export type CustomerRoute<S> =
  /** an event of a customer's stream, for `owner` (the stream's customer, or its survivor) */
  | { kind: 'event'; owner: S; streamCustomerId: string }
  /** a merge, already folded: `absorbed` lists the customers folded into `survivor` by this record */
  | { kind: 'merge'; survivor: S; absorbed: S[]; merge: MergeFacts; streamCustomerId: string }
  /** already applied (redelivery, replay over a lost checkpoint), or no customer at all */
  | { kind: 'skip' };

/** The customer a record's stream belongs to (the metadata names it for streams of other shapes). */
export const streamCustomerOf = (record: ProjectedRecord): string | undefined =>
  customerIdOfStream(record.streamId) ?? record.metadata?.customerId;

export function mergeFactsOf(record: ProjectedRecord): MergeFacts | undefined {
  if (record.type === 'customers.merged') {
    const { survivorId, mergedIds, evidence } = record.data;
    return {
      // a merge recorded without evidence (early versions) is known by what triggered it
      mergeId: evidence ? record.eventId : (record.metadata.causationId ?? record.eventId),
      survivorId,
      mergedIds,
      at: record.metadata.occurredAt,
      position: record.position,
      rule: evidence?.rule ?? 'unknown',
      survivorRule: evidence?.survivorRule ?? 'unknown',
      identifiers: evidence?.identifiers ?? [],
    };
  }
  if (record.type === 'customer.merged-into') {
    // normally the survivor's customers.merged came first and this changes nothing; a store that
    // orders the two otherwise still ends with the same merge
    return {
      mergeId: record.metadata.causationId ?? record.eventId,
      survivorId: record.data.survivorId,
      mergedIds: [record.data.customerId],
      at: record.metadata.occurredAt,
      position: record.position,
      rule: 'unknown',
      survivorRule: 'unknown',
      identifiers: [],
    };
  }
  return undefined;
}

/** The customers a batch of records touches: each stream's customer and every party of a merge (what beginBatch loads). */
export function customersTouchedBy(records: readonly ProjectedRecord[]): string[] {
  const ids = new Set<string>();
  for (const r of records) {
    const owner = streamCustomerOf(r);
    if (owner !== undefined) ids.add(owner);
    const merge = mergeFactsOf(r);
    if (merge) for (const id of [merge.survivorId, ...merge.mergedIds]) ids.add(id);
    // an erasure changes the customer and every customer merged into it
    if (r.type === 'personal-data.erased') for (const id of r.data.erasedCustomerIds) ids.add(id);
  }
  return [...ids];
}

/**
 * The customer-keyed projection kit: the states one batch reads and changes, and the rules every
 * customer-keyed read model shares. An event belongs to the customer its stream's customer
 * resolves to at that point of the log (merges followed to the live survivor); a merge folds the
 * merged-away states into the survivor (the model's `absorb`) and leaves them pointing at it;
 * an event at or below a customer's lastPosition is skipped (handled twice = handled once).
 * Bounded by the batch: a new instance per batch, nothing outlives it.
 */
export class CustomerStates<S extends CustomerKeyedState> {
  private readonly states = new Map<string, S>();
  private readonly changed = new Set<string>();

  /** `load` reads one stored state (a customer not stored yet starts empty); omit it when every state is preloaded */
  constructor(
    private readonly model: CustomerModel<S>,
    private readonly load: (customerId: string) => S | undefined = () => undefined,
  ) {}

  /**
   * Preloads the states of `ids` with `loadMany` (bulk), then along the merge chains up to each
   * live survivor: a stored pointer may name a customer merged away later (pointers are re-pointed
   * only in the batches that load them). A pointer to a customer never stored starts it empty.
   */
  async preloadWithSurvivors(ids: readonly string[], loadMany: (ids: string[]) => Promise<S[]>): Promise<void> {
    this.preload(await loadMany([...ids]));
    for (;;) {
      const survivors = new Set<string>();
      for (const s of this.states.values()) if (s.mergedInto !== null && !this.states.has(s.mergedInto)) survivors.add(s.mergedInto);
      if (survivors.size === 0) return;
      const found = await loadMany([...survivors]);
      for (const id of survivors) if (!found.some((s) => s.customerId === id)) found.push(this.model.empty(id));
      this.preload(found);
    }
  }

  /** Adds states read in bulk (one query per batch instead of one per customer). */
  preload(states: Iterable<S>): void {
    for (const s of states) this.states.set(s.customerId, s);
  }

  has(customerId: string): boolean {
    return this.states.has(customerId);
  }

  get(customerId: string): S {
    let s = this.states.get(customerId);
    if (!s) {
      s = this.load(customerId) ?? this.model.empty(customerId);
      this.states.set(customerId, s);
    }
    return s;
  }

  /** The customer `customerId` resolves to now: itself while live, else its survivor. */
  canonical(customerId: string): string {
    return followMergeChain(customerId, (id) => this.get(id).mergedInto);
  }

  markChanged(customerId: string): void {
    this.changed.add(customerId);
  }

  /** Changed states in id order (deterministic writes). */
  changedStates(): S[] {
    return [...this.changed].sort().map((id) => this.states.get(id)!);
  }

  /** Every state this batch holds (loaded or created). */
  all(): IterableIterator<S> {
    return this.states.values();
  }

  /**
   * Routes one record, in log order. Merges are folded here; for any other event of a customer
   * stream the owner is returned (marked changed, lastPosition advanced) for the model to fold.
   */
  route(record: ProjectedRecord): CustomerRoute<S> {
    const streamCustomerId = streamCustomerOf(record);
    if (streamCustomerId === undefined) return { kind: 'skip' };
    const merge = mergeFactsOf(record);
    if (merge) return this.merge(merge, streamCustomerId);
    const owner = this.get(this.canonical(streamCustomerId));
    if (record.position <= owner.lastPosition) return { kind: 'skip' };
    owner.lastPosition = record.position;
    this.markChanged(owner.customerId);
    return { kind: 'event', owner, streamCustomerId };
  }

  private merge(merge: MergeFacts, streamCustomerId: string): CustomerRoute<S> {
    const survivor = this.get(this.canonical(merge.survivorId));
    if (merge.position <= survivor.lastPosition) return { kind: 'skip' };
    const absorbed: S[] = [];
    for (const mergedId of merge.mergedIds) {
      const fromId = this.canonical(mergedId);
      if (fromId === survivor.customerId) continue;
      const from = this.get(fromId);
      this.model.absorb(survivor, from, merge);
      from.mergedInto = survivor.customerId;
      from.lastPosition = Math.max(from.lastPosition, merge.position);
      this.markChanged(fromId);
      // customers merged into `from` earlier point at the new survivor too: no chains to follow later
      for (const s of this.states.values()) {
        if (s.mergedInto === fromId) {
          s.mergedInto = survivor.customerId;
          this.markChanged(s.customerId);
        }
      }
      absorbed.push(from);
    }
    survivor.lastPosition = Math.max(survivor.lastPosition, merge.position);
    this.markChanged(survivor.customerId);
    return { kind: 'merge', survivor, absorbed, merge, streamCustomerId };
  }
}
