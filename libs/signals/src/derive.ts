import { deterministicUuid, isTouchpointType } from '@cem/domain';
import {
  absorbCustomerFacts,
  CustomerStates,
  unhandledType,
  type CustomerKeyedState,
  type CustomerModel,
  emptyCustomer360,
  evolveCustomer360,
  lifecycleStage,
  npsCategory,
  type Customer360State,
  type LifecycleStage,
  type ProjectedRecord,
  type Stamped,
  type SubscriptionState,
} from '@cem/read-models';
import { SIGNAL_SCHEMA, SIGNAL_SCHEMA_VERSION, type ChurnRiskChangedSignal, type CustomerSignal, type SignalType } from './signal.schema';

/*
 * Pure derivation of customer signals from the global log, in log order. The lifecycle rules and
 * the folding of events (late events, merges) are the customer-360 read model's (lifecycle.ts,
 * evolve.ts): this file only keeps the slice of that state the stage depends on, and turns changes
 * of the stage into signals.
 *
 * The stage is evaluated at `asOf`, the latest occurredAt known for the customer (never the wall
 * clock): replaying the same log yields the same signals with the same ids, whatever the day.
 */

/** What the publisher keeps per customer (no personal data: dates, counts, stamps). */
export interface SignalCustomerState extends CustomerKeyedState {
  /** latest occurredAt of any event applied: the instant the stage is evaluated at */
  asOf: string | null;
  /** the stage last signalled (null before the first) */
  stage: LifecycleStage | null;
  lastSeenAt: string | null;
  firstCommercialAt: string | null;
  lastWinAt: string | null;
  lastCancelAt: string | null;
  lastComplaintAt: string | null;
  nps: Stamped<number> | null;
  subscriptions: Record<string, Pick<SubscriptionState, 'status' | 'statusAt' | 'statusPos'>>;
}

export function emptySignalState(customerId: string): SignalCustomerState {
  return {
    customerId,
    mergedInto: null,
    lastPosition: 0,
    asOf: null,
    stage: null,
    lastSeenAt: null,
    firstCommercialAt: null,
    lastWinAt: null,
    lastCancelAt: null,
    lastComplaintAt: null,
    nps: null,
    subscriptions: {},
  };
}

/** Read access to stored states (the publisher's SQLite table, or a Map in tests). */
export interface SignalStateSource {
  get(customerId: string): SignalCustomerState | undefined;
}

/**
 * The signals' state on the customer-keyed kit: a merge folds the merged-away customer's facts
 * into the survivor with the customer 360's own absorbCustomer.
 */
const signalModel: CustomerModel<SignalCustomerState> = {
  empty: emptySignalState,
  absorb(survivor, merged, merge) {
    const target = hydrate(survivor);
    absorbCustomerFacts(target, hydrate(merged), merge);
    keepFacts(survivor, target);
    survivor.asOf = maxIso(survivor.asOf, merged.asOf);
  },
  // an unmerge refolds both customers with it (the kit), as if the merge had not happened
  evolve: foldFacts,
};

/** Folds one event routed to the customer (registration, touch point) into its facts. */
function foldFacts(state: SignalCustomerState, record: ProjectedRecord): void {
  if (record.type !== 'customer.registered' && !isTouchpointType(record.type)) return;
  const c = hydrate(state);
  evolveCustomer360(c, record);
  keepFacts(state, c);
  state.asOf = maxIso(state.asOf, record.metadata.occurredAt);
}

/**
 * The states one batch reads and changes, over a source. Changed states are copies until the
 * batch's signals are acknowledged and the publisher commits them with its checkpoint.
 */
export class SignalWorkingSet extends CustomerStates<SignalCustomerState> {
  constructor(source: SignalStateSource) {
    super(signalModel, (id) => {
      const stored = source.get(id);
      return stored ? structuredClone(stored) : undefined;
    });
  }
}

const maxIso = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : a > b ? a : b);

/** The deterministic id of a signal: the same source event, type and customer give the same id. */
export const signalIdOf = (type: SignalType, sourceEventId: string, customerId: string): string =>
  deterministicUuid(SIGNAL_SCHEMA, String(SIGNAL_SCHEMA_VERSION), type, sourceEventId, customerId);

/** The customer-360 facts the lifecycle rules read, kept by the signals state under the same names. */
const FACTS = ['lastPosition', 'lastSeenAt', 'firstCommercialAt', 'lastWinAt', 'lastCancelAt', 'lastComplaintAt', 'nps'] as const;
type Facts = Pick<Customer360State, (typeof FACTS)[number]>;

function copyFacts(to: Facts, from: Facts): void {
  for (const key of FACTS) (to as Record<keyof Facts, unknown>)[key] = from[key];
}

/** Customer-360 state holding just the facts the lifecycle rules read, for evolve.ts to fold into. */
function hydrate(s: SignalCustomerState): Customer360State {
  const c = emptyCustomer360(s.customerId);
  c.mergedInto = s.mergedInto;
  copyFacts(c, s);
  for (const [id, sub] of Object.entries(s.subscriptions)) c.subscriptions[id] = { ...sub };
  return c;
}

function keepFacts(into: SignalCustomerState, c: Customer360State): void {
  copyFacts(into, c);
  const subs: SignalCustomerState['subscriptions'] = {};
  for (const [id, sub] of Object.entries(c.subscriptions))
    subs[id] = { status: sub.status, statusAt: sub.statusAt, statusPos: sub.statusPos };
  into.subscriptions = subs;
}

/** The lifecycle stage of a state at its own `asOf` (the customer-360 rules). */
export function stageOf(s: SignalCustomerState): LifecycleStage {
  return lifecycleStage(
    {
      lastSeenAt: s.lastSeenAt,
      firstCommercialAt: s.firstCommercialAt,
      lastWinAt: s.lastWinAt,
      lastCancelAt: s.lastCancelAt,
      activeSubscriptions: Object.values(s.subscriptions).filter((x) => x.status === 'active').length,
      npsCategory: s.nps ? npsCategory(s.nps.value) : null,
      lastComplaintAt: s.lastComplaintAt,
    },
    s.asOf === null ? 0 : Date.parse(s.asOf),
  );
}

function base(type: SignalType, record: ProjectedRecord, customerId: string) {
  return {
    schema: SIGNAL_SCHEMA,
    schemaVersion: SIGNAL_SCHEMA_VERSION,
    signalId: signalIdOf(type, record.eventId, customerId),
    type,
    customerId,
    occurredAt: record.metadata.occurredAt,
    source: { eventId: record.eventId, eventType: record.type, position: record.position },
  } as const;
}

/** Re-evaluates the stage after `record` changed the state; a signal when it differs from the last one. */
function stageSignal(ws: SignalWorkingSet, state: SignalCustomerState, record: ProjectedRecord): CustomerSignal[] {
  ws.markChanged(state.customerId);
  const stage = stageOf(state);
  if (stage === state.stage) return [];
  const previousStage = state.stage;
  state.stage = stage;
  return [
    {
      ...base('customer.lifecycle-stage-changed', record, state.customerId),
      type: 'customer.lifecycle-stage-changed',
      data: { previousStage, stage, asOf: state.asOf! },
    },
  ];
}

/**
 * A band change announced by the scheduled re-scoring, as a signal. Needs no state: the event is
 * written once per change (deterministic event id) and carries everything the signal says. Only the
 * top factor's name goes out: its reason text quotes the customer's own facts.
 */
export function churnRiskSignalOf(record: ProjectedRecord & { type: 'churn-risk.changed' }): ChurnRiskChangedSignal {
  const d = record.data;
  return {
    ...base('customer.churn-risk-changed', record, d.customerId),
    type: 'customer.churn-risk-changed',
    data: {
      fromBand: d.fromBand,
      band: d.band,
      probability: d.probability,
      asOf: d.asOf,
      model: { name: d.model.name, version: d.model.version },
      topFactor: d.topFactors[0] ?? null,
    },
  };
}

/**
 * A segment entry or exit, as a signal when it is activated (the customer holds the segment's
 * consent purpose; an exit when its entry was signalled); held back otherwise. Needs no state: the
 * event is written once per change (deterministic id) and carries whether it is activated.
 */
export function segmentSignalOf(record: ProjectedRecord & { type: 'segment.entered' | 'segment.left' }): CustomerSignal | undefined {
  const d = record.data;
  if (!d.activated) return undefined;
  const data = { segmentId: d.segmentId, version: d.version, asOf: d.asOf, ...(d.reason ? { reason: d.reason } : {}) };
  return record.type === 'segment.entered'
    ? { ...base('customer.segment-entered', record, d.customerId), type: 'customer.segment-entered', data }
    : { ...base('customer.segment-left', record, d.customerId), type: 'customer.segment-left', data };
}

/**
 * The signals one stored event yields, in order, updating the working set. Call in log order;
 * an event at or below a customer's lastPosition is already applied and yields nothing.
 */
export function deriveSignals(ws: SignalWorkingSet, record: ProjectedRecord): CustomerSignal[] {
  if (record.type === 'churn-risk.changed') return [churnRiskSignalOf(record)];
  if (record.type === 'segment.entered' || record.type === 'segment.left') {
    const signal = segmentSignalOf(record);
    return signal ? [signal] : [];
  }
  if (
    record.type !== 'customers.merged' &&
    record.type !== 'customer.merged-into' &&
    record.type !== 'customers.unmerged' &&
    record.type !== 'customer.registered' &&
    !isTouchpointType(record.type)
  )
    return [];
  // what the survivor's stage was last announced as (the refold starts its state afresh)
  const survivorStage = record.type === 'customers.unmerged' ? ws.get(record.data.survivorId).stage : null;
  const route = ws.route(record);
  switch (route.kind) {
    case 'skip':
      return [];
    case 'unmerge': {
      // downstream retired the split customer at the merge: it is told the customer is back, then both stages
      const { survivor, split, unmerge } = route;
      survivor.stage = survivorStage;
      split.stage = null;
      const signal: CustomerSignal = {
        ...base('customers.unmerged', record, unmerge.survivorId),
        type: 'customers.unmerged',
        data: { survivorId: unmerge.survivorId, splitId: unmerge.splitId, restoredIds: [...unmerge.restoredIds], mergeId: unmerge.mergeId },
      };
      return [signal, ...stageSignal(ws, survivor, record), ...(split.asOf === null ? [] : stageSignal(ws, split, record))];
    }
    case 'merge': {
      const { survivor } = route;
      survivor.asOf = maxIso(survivor.asOf, record.metadata.occurredAt);
      if (record.type !== 'customers.merged') {
        // a merged-into pointer: normally the survivor's customers.merged came first and this changes nothing
        return route.absorbed.length > 0 ? stageSignal(ws, survivor, record) : [];
      }
      const d = record.data;
      const kinds = [...new Set((d.evidence?.identifiers ?? []).map((k) => k.slice(0, Math.max(0, k.indexOf(':'))) || 'unknown'))].sort();
      const signal: CustomerSignal = {
        ...base('customers.merged', record, d.survivorId),
        type: 'customers.merged',
        data: {
          survivorId: d.survivorId,
          mergedIds: [...d.mergedIds],
          rule: route.merge.rule,
          survivorRule: route.merge.survivorRule,
          identifierKinds: kinds,
        },
      };
      return [signal, ...stageSignal(ws, survivor, record)];
    }
    case 'event': {
      const state = route.owner;
      foldFacts(state, record);
      return stageSignal(ws, state, record);
    }
    default:
      unhandledType(route);
      return [];
  }
}
