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
  /**
   * Folds one event of the customer into its state, as the projection does (pure on the state). The
   * kit refolds both customers of an unmerge from the log with it; a model without it cannot follow
   * an unmerge (the split customer then restarts from its state at the merge, the survivor keeps
   * what it absorbed).
   */
  evolve?(state: S, record: ProjectedRecord): void;
  /**
   * Notes an undone merge in both states (e.g. the 360's merge history), once where the merge was
   * (`merged`, with its facts) and once where it was undone (`unmerged`). Optional.
   */
  noteUnmerge?(survivor: S, split: S, unmerge: UnmergeFacts, stage: 'merged' | 'unmerged', merge?: MergeFacts): void;
}

/** An unmerge as the read side sees it (`customers.unmerged`). */
export interface UnmergeFacts {
  unmergeId: string;
  survivorId: string;
  splitId: string;
  restoredIds: readonly string[];
  mergeId: string;
  mergePosition: number;
  /** events of the survivor's stream that are the split customer's (they carried only identifiers moved to it) */
  reattributedEventIds: ReadonlySet<string>;
  /**
   * the identifiers moved to the split customer, keyed as the identity registry keys them (blind keys
   * with the blind index); empty when they read as removed (the key sealing them was destroyed)
   */
  identifiers: readonly string[];
  at: string;
  position: number;
}

export function unmergeFactsOf(record: ProjectedRecord): UnmergeFacts | undefined {
  if (record.type !== 'customers.unmerged') return undefined;
  const d = record.data;
  return {
    unmergeId: record.eventId,
    survivorId: d.survivorId,
    splitId: d.splitId,
    restoredIds: d.restoredIds,
    mergeId: d.mergeId,
    mergePosition: d.mergePosition,
    reattributedEventIds: new Set(d.reattributedEventIds ?? []),
    identifiers: Array.isArray(d.identifiers) ? d.identifiers.filter((k): k is string => typeof k === 'string') : [],
    at: record.metadata.occurredAt,
    position: record.position,
  };
}

/** A customer's log as the kit reads it to refold after an unmerge: its stream and those merged into it, in log order. */
export type CustomerHistory = (customerId: string) => Promise<readonly ProjectedRecord[]>;

/** Where a record goes, as decided by CustomerStates.route. */
export type CustomerRoute<S> =
  /** an event of a customer's stream, for `owner` (the stream's customer, or its survivor) */
  | { kind: 'event'; owner: S; streamCustomerId: string }
  /** a merge, already folded: `absorbed` lists the customers folded into `survivor` by this record */
  | { kind: 'merge'; survivor: S; absorbed: S[]; merge: MergeFacts; streamCustomerId: string }
  /**
   * an unmerge, already refolded: `survivor` and `split` (and `restored`, the customers that follow
   * the split customer again) hold their states as if the merge had not happened; `owners` says,
   * for each earlier event of the two, whose it is now (by log position)
   */
  | {
      kind: 'unmerge';
      survivor: S;
      split: S;
      restored: S[];
      unmerge: UnmergeFacts;
      owners: ReadonlyMap<number, string>;
      streamCustomerId: string;
    }
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
    const unmerge = unmergeFactsOf(r);
    if (unmerge) for (const id of [unmerge.survivorId, unmerge.splitId, ...unmerge.restoredIds]) ids.add(id);
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
  /** the survivor's log before each unmerge of the batch, by the unmerge's position (preloadHistories) */
  private readonly histories = new Map<number, readonly ProjectedRecord[]>();

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

  /**
   * Reads what the unmerges among `records` need to refold their customers: the survivor's log
   * before each unmerge (the projection calls it in beginBatch; a batch without unmerges reads nothing).
   */
  async preloadHistories(records: readonly ProjectedRecord[], history: CustomerHistory | undefined): Promise<void> {
    for (const r of records) {
      const u = unmergeFactsOf(r);
      if (!u || this.histories.has(u.position)) continue;
      if (!history) throw new Error('an unmerge needs the customer history reader (CUSTOMER_HISTORY) to refold its customers');
      this.histories.set(
        u.position,
        (await history(u.survivorId)).filter((x) => x.position < u.position),
      );
    }
  }

  /** preloadHistories for a fold over a log held in memory (e.g. one customer's log, as of an instant): the history is that log */
  useHistoryFrom(log: readonly ProjectedRecord[]): void {
    for (const r of log) {
      const u = unmergeFactsOf(r);
      if (u)
        this.histories.set(
          u.position,
          log.filter((x) => x.position < u.position),
        );
    }
  }

  /** The survivor's log before the unmerge at `position`, as preloadHistories read it. */
  historyBefore(position: number): readonly ProjectedRecord[] | undefined {
    return this.histories.get(position);
  }

  /** the read model's rules these states follow */
  get customerModel(): CustomerModel<S> {
    return this.model;
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
    const unmerge = unmergeFactsOf(record);
    if (unmerge) return this.unmerge(unmerge, streamCustomerId);
    const owner = this.get(this.canonical(streamCustomerId));
    if (record.position <= owner.lastPosition) return { kind: 'skip' };
    owner.lastPosition = record.position;
    this.markChanged(owner.customerId);
    return { kind: 'event', owner, streamCustomerId };
  }

  /**
   * Refolds the survivor and the split customer from the survivor's log before the unmerge, as if the
   * merge had not happened (refoldWithoutMerges), and puts the results in place of their states.
   */
  private unmerge(unmerge: UnmergeFacts, streamCustomerId: string): CustomerRoute<S> {
    const survivorNow = this.get(unmerge.survivorId);
    if (unmerge.position <= survivorNow.lastPosition) return { kind: 'skip' };
    const ids = [unmerge.survivorId, unmerge.splitId, ...unmerge.restoredIds];
    let owners: ReadonlyMap<number, string> = new Map();
    if (this.model.evolve) {
      const history = this.histories.get(unmerge.position);
      if (!history) throw new Error(`the history before unmerge ${unmerge.position} was not preloaded (preloadHistories)`);
      const refolded = refoldWithoutMerges(this.model, [...history, unmergeRecordOf(unmerge)], [...ids]);
      owners = refolded.owners;
      for (const id of ids) this.states.set(id, refolded.states.get(id)!);
    } else {
      // no fold to refold with: the split customer restarts from its state at the merge
      this.get(unmerge.splitId).mergedInto = null;
      for (const id of unmerge.restoredIds) this.get(id).mergedInto = unmerge.splitId;
      this.model.noteUnmerge?.(this.get(unmerge.survivorId), this.get(unmerge.splitId), unmerge, 'unmerged');
    }
    for (const id of ids) {
      const s = this.get(id);
      s.lastPosition = Math.max(s.lastPosition, unmerge.position);
      this.markChanged(id);
    }
    return {
      kind: 'unmerge',
      survivor: this.get(unmerge.survivorId),
      split: this.get(unmerge.splitId),
      restored: unmerge.restoredIds.map((id) => this.get(id)),
      unmerge,
      owners,
      streamCustomerId,
    };
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

/**
 * Who owns an event once merges were undone (docs/identity.md, "Unmerge"): an event of the
 * survivor's stream recorded after the undone merge and before its unmerge belongs to the split
 * customer when every identifier it carried was moved to it (the unmerge lists those events, decided
 * on the write side from the identifiers in clear, so no personal data is needed here); an event
 * carrying none, or one the survivor keeps, stays with the survivor. An event of any other stream
 * belongs to that stream's customer, as always.
 */
export function unmergedOwnerOf(record: ProjectedRecord, unmerges: readonly UnmergeFacts[]): string | undefined {
  const streamCustomer = streamCustomerOf(record);
  for (const u of unmerges)
    if (streamCustomer === u.survivorId && record.position < u.position && u.reattributedEventIds.has(record.eventId)) return u.splitId;
  return streamCustomer;
}

/**
 * Folds `ids` afresh from a survivor's log (its stream and those merged into it) with every unmerge
 * that log records applied as if its merge had never happened: an undone merge does not absorb the
 * customer split off, and the events the split customer owns (unmergedOwnerOf) are folded into it.
 * Deterministic: the same log gives the same states live and in a rebuild.
 */
export function refoldWithoutMerges<S extends CustomerKeyedState>(
  model: CustomerModel<S>,
  log: readonly ProjectedRecord[],
  ids: readonly string[],
): { states: Map<string, S>; owners: Map<number, string> } {
  const owners = new Map<number, string>();
  const fresh = replayWithoutMerges(new CustomerStates(model), log, (route, record) => {
    if (route.kind !== 'event') return;
    model.evolve!(route.owner, record);
    owners.set(record.position, route.owner.customerId);
  });
  const states = new Map<string, S>();
  for (const id of ids) states.set(id, fresh.get(id));
  return { states, owners };
}

/**
 * Replays a survivor's log (its stream and those merged into it) into `fresh` (empty states) as if
 * every merge the log undoes had never happened (refoldWithoutMerges's rule), handing each merge
 * and event route to `visit` in log order: for a read model whose fold does more than change a
 * state (e.g. adds to aggregate rows), which replays the log twice, with and without the merge an
 * unmerge undoes, and takes the difference. Returns `fresh`.
 */
export function replayWithoutMerges<S extends CustomerKeyedState>(
  fresh: CustomerStates<S>,
  log: readonly ProjectedRecord[],
  visit: (route: CustomerRoute<S> & { kind: 'event' | 'merge' }, record: ProjectedRecord) => void,
): CustomerStates<S> {
  const model = fresh.customerModel;
  const unmerges = log.map(unmergeFactsOf).filter((u): u is UnmergeFacts => u !== undefined);
  const undone = new Set(unmerges.map((u) => `${u.mergeId}\u0000${u.splitId}`));
  for (const record of log) {
    const unmerge = unmergeFactsOf(record);
    if (unmerge) {
      // its effect is applied through `undone` and unmergedOwnerOf; the model may note it
      fresh.get(unmerge.splitId).mergedInto = null;
      model.noteUnmerge?.(fresh.get(fresh.canonical(unmerge.survivorId)), fresh.get(unmerge.splitId), unmerge, 'unmerged');
      continue;
    }
    const merge = mergeFactsOf(record);
    if (merge) {
      for (const u of unmerges)
        if (u.mergeId === merge.mergeId && merge.mergedIds.includes(u.splitId) && record.type === 'customers.merged')
          model.noteUnmerge?.(fresh.get(fresh.canonical(merge.survivorId)), fresh.get(u.splitId), u, 'merged', merge);
      const mergedIds = merge.mergedIds.filter((id) => !undone.has(`${merge.mergeId}\u0000${id}`));
      if (mergedIds.length === 0) continue;
      const route = fresh.route({ ...record, data: { ...record.data, mergedIds } } as ProjectedRecord);
      if (route.kind === 'merge') visit(route, record);
      continue;
    }
    const owner = unmergedOwnerOf(record, unmerges);
    if (owner === undefined) continue;
    // route it as an event of its owner's stream (the kit follows that owner's merges)
    const route = fresh.route({ ...record, streamId: `customer-${owner}`, metadata: { ...record.metadata, customerId: owner } });
    if (route.kind === 'event') visit(route, record);
  }
  return fresh;
}

/** The minimal record of an unmerge the refold reads (the facts are already parsed). */
function unmergeRecordOf(u: UnmergeFacts): ProjectedRecord {
  return {
    position: u.position,
    eventId: u.unmergeId,
    streamId: `customer-${u.survivorId}`,
    revision: 0,
    recordedAt: u.at,
    type: 'customers.unmerged',
    metadata: { schemaVersion: 1, occurredAt: u.at, customerId: u.survivorId, source: 'cem/unmerge' },
    data: {
      survivorId: u.survivorId,
      splitId: u.splitId,
      restoredIds: [...u.restoredIds],
      mergeId: u.mergeId,
      mergePosition: u.mergePosition,
      identifiers: [...u.identifiers],
      reattributedEventIds: [...u.reattributedEventIds],
      requestedBy: { kind: 'named', name: '' },
      reason: '',
      unmergedAt: u.at,
    },
  };
}
