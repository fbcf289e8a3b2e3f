import type { ChurnBand } from '@cem/domain';
import type { LifecycleStage } from '@cem/read-models';

/*
 * Customer signals, schema version 1: what the platform tells the rest of the value chain about a
 * customer, one JSON message per signal on the signals topic (docs/customer-signals.md). Additive
 * changes (a new optional field, a new signal type) keep version 1; anything else is version 2 on a
 * new topic (`cem.customer-signals.v2`).
 */
export const SIGNAL_SCHEMA = 'cem.customer-signal';
export const SIGNAL_SCHEMA_VERSION = 1;
export const DEFAULT_SIGNALS_TOPIC = 'cem.customer-signals.v1';

export const SIGNAL_TYPES = [
  'customers.merged',
  'customers.unmerged',
  'customer.lifecycle-stage-changed',
  'customer.churn-risk-changed',
  'customer.segment-entered',
  'customer.segment-left',
] as const;
export type SignalType = (typeof SIGNAL_TYPES)[number];

/** The stored event a signal was derived from. */
export interface SignalSource {
  eventId: string;
  eventType: string;
  /** position in the platform's global log (store-specific; for tracing, not for ordering across stores) */
  position: number;
}

interface SignalBase<T extends SignalType, D> {
  schema: typeof SIGNAL_SCHEMA;
  schemaVersion: typeof SIGNAL_SCHEMA_VERSION;
  /** deterministic: the same log always yields the same id for the same signal; dedupe on it */
  signalId: string;
  type: T;
  /** the customer the signal is about; also the Kafka message key */
  customerId: string;
  /** occurredAt of the source event (when it happened in the world) */
  occurredAt: string;
  source: SignalSource;
  data: D;
}

export interface CustomersMergedData {
  survivorId: string;
  /** customers whose history now belongs to the survivor; their ids are retired */
  mergedIds: string[];
  /** the identity rule that merged them, e.g. `shared-identifier` */
  rule: string;
  /** how the survivor was chosen, e.g. `earliest-registered` */
  survivorRule: string;
  /** kinds of the identifiers that were shared (`email`, `phone`, ...); never their values */
  identifierKinds: string[];
}

/**
 * A merge undone by an analyst (docs/identity.md, "Unmerge"): `splitId` is a customer again, with its
 * own history (and `restoredIds`, the customers merged into it before, follow it again). Both
 * customers' lifecycle stages are announced again right after it, the split customer's as a new
 * customer's (previousStage null).
 */
export interface CustomersUnmergedData {
  survivorId: string;
  splitId: string;
  restoredIds: string[];
  /** the `customers.merged` event undone (the source event id of its `customers.merged` signal) */
  mergeId: string;
}

export interface LifecycleStageChangedData {
  /** null the first time the customer gets a stage (a new customer) */
  previousStage: LifecycleStage | null;
  stage: LifecycleStage;
  /** the instant the stage was evaluated at: the latest occurredAt known for the customer */
  asOf: string;
}

export interface ChurnRiskChangedData {
  /** the band announced before; null the first time the customer is announced (a customer never announced counts as low) */
  fromBand: ChurnBand | null;
  band: ChurnBand;
  /** probability of churning within the model's horizon, at `asOf` */
  probability: number;
  /** the instant the scheduled re-scoring evaluated the customer at */
  asOf: string;
  /** the fitted model that scored the customer */
  model: { name: string; version: number };
  /** the name of the largest contribution towards churn (e.g. `recency`), never its reason text; null when none */
  topFactor: string | null;
}

/**
 * A customer entered or left an analyst-defined segment (docs/segments.md). Only customers holding
 * the segment's consent purpose are signalled (an exit when the entry was): the others are held back.
 */
export interface SegmentMembershipData {
  segmentId: string;
  /** the segment definition's version the customer was evaluated against */
  version: number;
  /** the instant the rule was evaluated at */
  asOf: string;
  /** left only: `rule` (no longer matches) or `archived` */
  reason?: 'rule' | 'archived';
}

export type CustomersMergedSignal = SignalBase<'customers.merged', CustomersMergedData>;
export type CustomersUnmergedSignal = SignalBase<'customers.unmerged', CustomersUnmergedData>;
export type LifecycleStageChangedSignal = SignalBase<'customer.lifecycle-stage-changed', LifecycleStageChangedData>;
export type ChurnRiskChangedSignal = SignalBase<'customer.churn-risk-changed', ChurnRiskChangedData>;
export type SegmentEnteredSignal = SignalBase<'customer.segment-entered', SegmentMembershipData>;
export type SegmentLeftSignal = SignalBase<'customer.segment-left', SegmentMembershipData>;
export type CustomerSignal =
  | CustomersMergedSignal
  | CustomersUnmergedSignal
  | LifecycleStageChangedSignal
  | ChurnRiskChangedSignal
  | SegmentEnteredSignal
  | SegmentLeftSignal;

/** Kafka headers of every signal message (the value is the JSON of the signal). */
export const SIGNAL_HEADERS = {
  id: 'signal.id',
  type: 'signal.type',
  schema: 'signal.schema',
} as const;

export function toKafkaMessage(signal: CustomerSignal): { key: string; value: string; headers: Record<string, string> } {
  return {
    key: signal.customerId,
    value: JSON.stringify(signal),
    headers: {
      [SIGNAL_HEADERS.id]: signal.signalId,
      [SIGNAL_HEADERS.type]: signal.type,
      [SIGNAL_HEADERS.schema]: `${SIGNAL_SCHEMA}/v${SIGNAL_SCHEMA_VERSION}`,
    },
  };
}
