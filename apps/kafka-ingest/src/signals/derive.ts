import { customerIdOfStream, deterministicUuid, isTouchpointType, type PayloadOf } from '@cem/domain';
import {
  absorbCustomer,
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
import { SIGNAL_SCHEMA, SIGNAL_SCHEMA_VERSION, type CustomerSignal, type SignalType } from './signal.schema';

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
export interface SignalCustomerState {
  customerId: string;
  /** the live survivor when this customer was merged away */
  mergedInto: string | null;
  /** last log position applied to this customer */
  lastPosition: number;
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
 * The states one batch reads and changes, over a source. Changed states are copies until the
 * batch's signals are acknowledged and the publisher commits them with its checkpoint.
 */
export class SignalWorkingSet {
  private readonly states = new Map<string, SignalCustomerState>();
  private readonly changed = new Set<string>();

  constructor(private readonly source: SignalStateSource) {}

  get(customerId: string): SignalCustomerState {
    let s = this.states.get(customerId);
    if (!s) {
      const stored = this.source.get(customerId);
      s = stored ? structuredClone(stored) : emptySignalState(customerId);
      this.states.set(customerId, s);
    }
    return s;
  }

  markChanged(customerId: string): void {
    this.changed.add(customerId);
  }

  /** the customer a customer id resolves to now (itself unless merged away; chains followed) */
  canonical(customerId: string): string {
    let id = customerId;
    for (let hops = 0; hops < 64; hops++) {
      const next = this.get(id).mergedInto;
      if (next === null || next === id) return id;
      id = next;
    }
    return id;
  }

  changedStates(): SignalCustomerState[] {
    return [...this.changed].sort().map((id) => this.states.get(id)!);
  }
}

const maxIso = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : a > b ? a : b);

/** The deterministic id of a signal: the same source event, type and customer give the same id. */
export const signalIdOf = (type: SignalType, sourceEventId: string, customerId: string): string =>
  deterministicUuid(SIGNAL_SCHEMA, String(SIGNAL_SCHEMA_VERSION), type, sourceEventId, customerId);

/** Customer-360 state holding just the facts the lifecycle rules read, for evolve.ts to fold into. */
function hydrate(s: SignalCustomerState): Customer360State {
  const c = emptyCustomer360(s.customerId);
  c.mergedInto = s.mergedInto;
  c.lastPosition = s.lastPosition;
  c.lastSeenAt = s.lastSeenAt;
  c.firstCommercialAt = s.firstCommercialAt;
  c.lastWinAt = s.lastWinAt;
  c.lastCancelAt = s.lastCancelAt;
  c.lastComplaintAt = s.lastComplaintAt;
  c.nps = s.nps;
  for (const [id, sub] of Object.entries(s.subscriptions)) c.subscriptions[id] = { ...sub };
  return c;
}

function keepFacts(into: SignalCustomerState, c: Customer360State): void {
  into.lastPosition = c.lastPosition;
  into.lastSeenAt = c.lastSeenAt;
  into.firstCommercialAt = c.firstCommercialAt;
  into.lastWinAt = c.lastWinAt;
  into.lastCancelAt = c.lastCancelAt;
  into.lastComplaintAt = c.lastComplaintAt;
  into.nps = c.nps;
  const subs: SignalCustomerState['subscriptions'] = {};
  for (const [id, sub] of Object.entries(c.subscriptions)) subs[id] = { status: sub.status, statusAt: sub.statusAt, statusPos: sub.statusPos };
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

const streamCustomer = (r: ProjectedRecord): string | undefined => customerIdOfStream(r.streamId) ?? r.metadata?.customerId;

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
  return [{ ...base('customer.lifecycle-stage-changed', record, state.customerId), type: 'customer.lifecycle-stage-changed', data: { previousStage, stage, asOf: state.asOf! } }];
}

/** Folds the merged-away customers into the survivor (evolve.ts's absorbCustomer); returns those absorbed. */
function merge(ws: SignalWorkingSet, record: ProjectedRecord, survivorId: string, mergedIds: readonly string[]): { survivor: SignalCustomerState; absorbed: string[] } | undefined {
  const survivor = ws.get(ws.canonical(survivorId));
  if (record.position <= survivor.lastPosition) return undefined; // already applied
  const target = hydrate(survivor);
  const at = record.metadata.occurredAt;
  const absorbed: string[] = [];
  for (const mergedId of mergedIds) {
    const from = ws.canonical(mergedId);
    if (from === survivor.customerId) continue;
    const merged = ws.get(from);
    absorbCustomer(target, hydrate(merged), { kind: 'absorbed', mergeId: record.eventId, mergedIds: [from], at, position: record.position, rule: '', survivorRule: '', identifiers: [] });
    survivor.asOf = maxIso(survivor.asOf, merged.asOf);
    merged.mergedInto = survivor.customerId;
    merged.lastPosition = Math.max(merged.lastPosition, record.position);
    ws.markChanged(from);
    absorbed.push(from);
  }
  keepFacts(survivor, target);
  survivor.lastPosition = Math.max(survivor.lastPosition, record.position);
  survivor.asOf = maxIso(survivor.asOf, at);
  ws.markChanged(survivor.customerId);
  return { survivor, absorbed };
}

/**
 * The signals one stored event yields, in order, updating the working set. Call in log order;
 * an event at or below a customer's lastPosition is already applied and yields nothing.
 */
export function deriveSignals(ws: SignalWorkingSet, record: ProjectedRecord): CustomerSignal[] {
  if (record.type === 'customers.merged') {
    const d = record.data as PayloadOf<'customers.merged'>;
    const done = merge(ws, record, d.survivorId, d.mergedIds);
    if (!done) return [];
    const kinds = [...new Set((d.evidence?.identifiers ?? []).map((k) => k.slice(0, Math.max(0, k.indexOf(':'))) || 'unknown'))].sort();
    const signal: CustomerSignal = {
      ...base('customers.merged', record, d.survivorId),
      type: 'customers.merged',
      data: { survivorId: d.survivorId, mergedIds: [...d.mergedIds], rule: d.evidence?.rule ?? 'unknown', survivorRule: d.evidence?.survivorRule ?? 'unknown', identifierKinds: kinds },
    };
    return [signal, ...stageSignal(ws, done.survivor, record)];
  }
  if (record.type === 'customer.merged-into') {
    // normally the survivor's customers.merged came first and this changes nothing
    const d = record.data as PayloadOf<'customer.merged-into'>;
    const done = merge(ws, record, d.survivorId, [d.customerId]);
    return done && done.absorbed.length > 0 ? stageSignal(ws, done.survivor, record) : [];
  }
  if (record.type !== 'customer.registered' && !isTouchpointType(record.type)) return [];
  const streamCustomerId = streamCustomer(record);
  if (!streamCustomerId) return [];
  const state = ws.get(ws.canonical(streamCustomerId));
  if (record.position <= state.lastPosition) return [];
  const c = hydrate(state);
  evolveCustomer360(c, record);
  keepFacts(state, c);
  state.asOf = maxIso(state.asOf, record.metadata.occurredAt);
  return stageSignal(ws, state, record);
}
