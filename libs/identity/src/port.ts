import type { Identifier, MergeDecision } from '@cem/domain';

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
   * merges. Idempotent. Answers how many identifiers were removed.
   */
  forgetCustomers(customerIds: string[]): Promise<number>;
  /** false when forgetCustomers is not available on this adapter (an erasure is refused up front) */
  readonly canForget: boolean;
  close(): Promise<void>;
}

export const IDENTITY_REGISTRY = Symbol('IDENTITY_REGISTRY');
