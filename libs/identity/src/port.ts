import type { Identifier, MergeDecision } from '@cem/domain';
import { v7 as uuidv7 } from 'uuid';

/**
 * The id of a customer the registry registers: a UUIDv7 (RFC 9562), whose first 48 bits are the
 * creation time in milliseconds and which one process issues in increasing order. Tables keyed by
 * customer id (the registry's, the event log's streams, the key store's keys) then gain rows at the end
 * of their B-tree instead of at random pages: a random v4 id dirties a different page per new customer,
 * and each commit writes all of them (a new customer's key cost 176 us in the key store with random
 * ids, 43 us with ordered ones: docs/benchmarks.md).
 * Customers registered before keep their v4 ids; both are UUIDs wherever an id is checked.
 */
export const newCustomerId = (): string => uuidv7();

export interface ResolveRequest {
  /** normalised identifiers named by one incoming event */
  identifiers: Identifier[];
  /** the event that named them (merge evidence) */
  triggeringEventId: string;
  occurredAt: string;
  source: string;
}

/**
 * A merge the registry decided (the domain's MergeDecision: a deterministic mergeId, survivor, merged
 * ids, evidence); the write side records it as events, then confirms it.
 */
export type PendingMerge = MergeDecision;

export interface Resolution {
  /** the customer this event belongs to (after any merge it caused) */
  customerId: string;
  /** true when the registry registered this customer for this request */
  registered: boolean;
  /** merges this request caused */
  merges: PendingMerge[];
  /**
   * Set when the identifiers led to customers an unmerge keeps apart: they were not merged again;
   * `customerId` is the earliest registered of them (the survivor rule), and the conflict is recorded
   * for review (identityConflicts). Lists every live customer the identifiers led to.
   */
  conflict?: string[];
}

/** One customer split off by an unmerge (the registry side of a `customers.unmerged` event). */
export interface UnmergeMove {
  /** the `customers.unmerged` event id (the move is idempotent by it) */
  unmergeId: string;
  survivorId: string;
  /** made live again */
  splitId: string;
  /** customers merged into the split customer before: they resolve to it again */
  restoredIds: string[];
  /** identifiers the split customer owns from now on */
  identifiers: Identifier[];
  /** identifiers it brought to the merge that stay with the survivor */
  keptBySurvivor: Identifier[];
}

/** An event whose identifiers led to customers kept apart by an unmerge (recorded for review). */
export interface IdentityConflict {
  triggeringEventId: string;
  /** every live customer the event's identifiers led to; the event was recorded on the first */
  customerIds: string[];
  occurredAt: string;
  source: string;
  /** when the registry recorded it */
  recordedAt: string;
}

/**
 * The identity registry: which customer owns which normalised identifier. It guarantees that one
 * identifier belongs to exactly one customer even under concurrent ingestion, and merges customers
 * when one event names identifiers of two.
 */
export interface IdentityRegistry {
  /** resolves requests in order; later requests see the claims and merges of earlier ones */
  resolveBatch(requests: ResolveRequest[]): Promise<Resolution[]>;
  /** merges decided but not yet confirmed as recorded in the event store (e.g. after a crash) */
  pendingMerges(): Promise<PendingMerge[]>;
  confirmMerges(mergeIds: string[]): Promise<void>;
  /** the live customer owning this identifier, if any */
  lookup(identifier: Identifier): Promise<string | undefined>;
  /** follows merges: the surviving customer id for any id the registry ever issued */
  canonicalId(customerId: string): Promise<string | undefined>;
  /**
   * Erasure: removes every identifier these customers own, so none resolves to them any more (a later
   * event naming one registers a new customer), and the identifier keys from the evidence of their
   * merges. Idempotent. Answers how many identifiers were removed. `identifiers`: those the
   * customers' events name (an adapter that cannot list a customer's identifiers itself, EventStoreDB,
   * releases these).
   */
  forgetCustomers(customerIds: string[], identifiers?: Identifier[]): Promise<number>;
  /**
   * Unmerge: makes each split customer live again (and the customers merged into it before follow it
   * again), gives it `identifiers`, leaves `keptBySurvivor` with the survivor, and keeps the two apart
   * from now on: a request naming identifiers of both is not merged, it is resolved to the earlier
   * registered with a conflict (Resolution.conflict, identityConflicts). Idempotent.
   */
  unmerge(moves: UnmergeMove[]): Promise<void>;
  /**
   * A number that changes whenever an unmerge moves identifiers (in the same transaction as the move).
   * Ingestion reads it before resolving and again after reading the stream heads it appends at: a
   * change means an unmerge may have moved an identifier it resolved, and it resolves again. Absent on
   * an adapter that cannot read it cheaply (EventStoreDB): there the race is documented (docs/identity.md).
   */
  unmergeGeneration?(): Promise<number>;
  /** conflicts recorded, oldest first, after the first `offset` */
  identityConflicts(options: { offset: number; limit: number }): Promise<IdentityConflict[]>;
  /** true when the registry holds nothing yet (no customer, identifier, merge, unmerge or conflict) */
  isEmpty(): Promise<boolean>;
  /**
   * Writes a whole registry state (derived from a log by deriveRegistryState: `cem import-log`) into
   * an empty registry; refuses one that holds anything (RegistryNotEmptyError, nothing written).
   * `onProgress` is told how many of the state's entries are written so far.
   */
  restore(state: RegistryState, onProgress?: (done: number, total: number) => void): Promise<void>;
  /** false when forgetCustomers is not available on this adapter (an erasure is refused up front) */
  readonly canForget: boolean;
  close(): Promise<void>;
}

export const IDENTITY_REGISTRY = Symbol('IDENTITY_REGISTRY');

/**
 * The final state of an identity registry, as both adapters can write it (IdentityRegistry.restore):
 * what `cem import-log` derives from a log moved into a fresh store, since the registry itself lives
 * outside the log.
 */
export interface RegistryState {
  /** every customer the log names, in registration order (the order the survivor rule compares) */
  customers: RegistryCustomer[];
  /** identifier key (as the registry keys it: `kind:value`, or the blind index) -> the live customer owning it */
  identifiers: Map<string, string>;
  /** every merge recorded, in log order (all confirmed: their events are in the log) */
  merges: PendingMerge[];
  /** pairs of customers an unmerge keeps apart (lower id first) */
  apart: [string, string][];
  /** the unmerges done (`customers.unmerged` event ids), in log order */
  unmerges: { unmergeId: string; survivorId: string; splitId: string }[];
  /** events recorded with an identity conflict, in log order */
  conflicts: IdentityConflict[];
}

export interface RegistryCustomer {
  customerId: string;
  /** the survivor of the merge that took it (which may have been merged away since: follow it), absent while live */
  mergedInto?: string;
  /** erased: none of its identifiers resolves any more */
  erased: boolean;
}

/** A restore into a registry that already holds something: nothing was written. */
export class RegistryNotEmptyError extends Error {
  override name = 'RegistryNotEmptyError';
}

/** The registry is keyed by another identifier index than the one configured: the process must not start. */
export class IdentifierIndexMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentifierIndexMismatchError';
  }
}
