import type { DomainEvent } from '../events';
import type { MergeEvidence } from '../catalogue/payloads';
import { deterministicUuid } from '../ids';

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

/** A customer one event's identifiers led to, with the identifier keys (`kind:value`) that led there. */
export interface MergeOwner extends MergeCandidate {
  identifierKeys: string[];
}

/** What a merge is recorded against: the event whose identifiers named several customers. */
export interface MergeTrigger {
  triggeringEventId: string;
  occurredAt: string;
  source: string;
}

/** Id of the `customers.merged` event: the same survivor, merged ids and trigger always give the same id. */
export const mergeEventId = (survivorId: string, mergedIds: string[], triggeringEventId: string): string =>
  deterministicUuid('customers.merged', survivorId, ...[...mergedIds].sort(), triggeringEventId);

/** Id of the `customer.merged-into` pointer a merge leaves on one merged-away stream. */
export const mergePointerEventId = (mergeId: string, mergedId: string): string =>
  deterministicUuid('customer.merged-into', mergeId, mergedId);

/**
 * The merge one event causes when its identifiers lead to several live customers: the survivor by
 * the survivor rule, the others merged into it, and the evidence (every identifier key that led to
 * one of them, the rule, the triggering event). Both identity registries decide merges with it.
 */
export function decideSharedIdentifierMerge(owners: MergeOwner[], trigger: MergeTrigger): MergeDecision {
  const { survivorId, mergedIds } = chooseSurvivor(owners);
  return {
    mergeId: mergeEventId(survivorId, mergedIds, trigger.triggeringEventId),
    survivorId,
    mergedIds,
    evidence: {
      identifiers: owners.flatMap((o) => o.identifierKeys).sort(),
      rule: 'shared-identifier',
      triggeringEventId: trigger.triggeringEventId,
      survivorRule: SURVIVOR_RULE,
    },
    occurredAt: trigger.occurredAt,
    source: trigger.source,
  };
}

/**
 * The part of a decided merge that was carried out when only some of its merged ids could be
 * merged (a registry that lost a race for the others): same survivor and evidence, an id of its
 * own. undefined when none was.
 */
export function mergeCarriedOut(decision: MergeDecision, mergedIds: string[]): MergeDecision | undefined {
  const done = decision.mergedIds.filter((id) => mergedIds.includes(id));
  if (done.length === 0) return undefined;
  if (done.length === decision.mergedIds.length) return decision;
  return { ...decision, mergeId: mergeEventId(decision.survivorId, done, decision.evidence.triggeringEventId), mergedIds: done };
}

/** The events that record a merge: one on the survivor, one pointer on each merged-away stream. */
export function decideMerge(
  merge: MergeDecision,
  pointerEventId: (mergedId: string) => string = (mergedId) => mergePointerEventId(merge.mergeId, mergedId),
): { streamCustomerId: string; event: DomainEvent }[] {
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
