import type { DomainEvent } from '../events';
import type { MergeEvidence } from '../catalogue/payloads';

export interface MergeDecision {
  mergeId: string;
  survivorId: string;
  mergedIds: string[];
  evidence: MergeEvidence;
  occurredAt: string;
  source: string;
}

/** A candidate for survival: a customer id and the order in which the registry first saw it. */
export interface MergeCandidate {
  customerId: string;
  registeredSeq: number;
}

export const SURVIVOR_RULE = 'earliest-registered';

/**
 * Deterministic survivor: the customer the registry registered first (its history is the longest
 * lived), ties broken by id. Pure, so replaying the same evidence always picks the same survivor.
 */
export function chooseSurvivor(candidates: MergeCandidate[]): { survivorId: string; mergedIds: string[] } {
  if (candidates.length < 2) throw new Error('a merge needs at least two customers');
  const sorted = [...candidates].sort((a, b) => a.registeredSeq - b.registeredSeq || a.customerId.localeCompare(b.customerId));
  return { survivorId: sorted[0].customerId, mergedIds: sorted.slice(1).map((c) => c.customerId) };
}

/** The events that record a merge: one on the survivor, one pointer on each merged-away stream. */
export function decideMerge(merge: MergeDecision, pointerEventId: (mergedId: string) => string): { streamCustomerId: string; event: DomainEvent }[] {
  const out: { streamCustomerId: string; event: DomainEvent }[] = [
    {
      streamCustomerId: merge.survivorId,
      event: {
        eventId: merge.mergeId,
        type: 'customers.merged',
        data: { survivorId: merge.survivorId, mergedIds: merge.mergedIds, evidence: merge.evidence },
        metadata: {
          schemaVersion: 1,
          occurredAt: merge.occurredAt,
          customerId: merge.survivorId,
          source: merge.source,
          causationId: merge.evidence.triggeringEventId,
        },
      },
    },
  ];
  for (const mergedId of merge.mergedIds) {
    out.push({
      streamCustomerId: mergedId,
      event: {
        eventId: pointerEventId(mergedId),
        type: 'customer.merged-into',
        data: { customerId: mergedId, survivorId: merge.survivorId },
        metadata: {
          schemaVersion: 1,
          occurredAt: merge.occurredAt,
          customerId: mergedId,
          source: merge.source,
          causationId: merge.mergeId,
        },
      },
    });
  }
  return out;
}
