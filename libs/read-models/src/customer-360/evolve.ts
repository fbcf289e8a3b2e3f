import type { CaseWorkStatus, Identifier, TouchpointType } from '@cem/domain';
import { isTouchpointRecord, type ProjectedRecord } from '../projector/projected-record';
import {
  addMoneyUnits,
  toMoneyUnits,
  type CaseState,
  type Customer360State,
  type MergeRecord,
  type MoneyState,
  type Stamp,
  type Stamped,
  type SubscriptionState,
} from './customer-360.state';

/*
 * evolve folds one event into one customer's state. It mutates the state it is given instead of
 * returning a copy: the projection owns a batch-scoped copy of each document, and copying nested
 * maps for each of millions of events would cost most of the rebuild budget. It stays a pure
 * function of (state, event) otherwise: no clock, no I/O.
 */

/** (at, pos) is strictly later than the stamp: latest by occurredAt, ties broken by log position. */
export const isLater = (stamp: { at: string; pos: number } | null | undefined, at: string, pos: number): boolean =>
  !stamp || at > stamp.at || (at === stamp.at && pos > stamp.pos);

/** (at, pos) is strictly earlier than the stamp (or there is none). */
const isEarlier = (stamp: Stamp | null | undefined, at: string, pos: number): boolean =>
  !stamp || at < stamp.at || (at === stamp.at && pos < stamp.pos);

const minIso = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : a < b ? a : b);
const maxIso = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : a > b ? a : b);
const add = (counts: Record<string, number>, key: string, n = 1) => {
  counts[key] = (counts[key] ?? 0) + n;
};

/** Adds identifiers to the state; returns those it did not hold yet (for the lookup index). */
export function addIdentifiers(state: Customer360State, identifiers: readonly Identifier[] | undefined): Identifier[] {
  const added: Identifier[] = [];
  if (!identifiers) return added;
  for (const id of identifiers) {
    const values = (state.identifiers[id.kind] ??= []);
    if (values.includes(id.value)) continue;
    values.push(id.value);
    values.sort();
    added.push(id);
  }
  return added;
}

function stampIfLater<T>(current: Stamped<T> | null | undefined, value: T, at: string, pos: number): Stamped<T> | null {
  return isLater(current, at, pos) ? { value, at, pos } : (current ?? null);
}

/**
 * Folds a touch-point or registration event into the state. Merge events involve two customers and
 * are folded by absorbCustomer. Returns identifiers the customer did not hold before.
 */
export function evolveCustomer360(state: Customer360State, event: ProjectedRecord): Identifier[] {
  const meta = event.metadata;
  const at = meta.occurredAt;
  const pos = event.position;
  state.lastPosition = Math.max(state.lastPosition, pos);
  const added = addIdentifiers(state, meta.identifiers);

  if (event.type === 'customer.registered') {
    added.push(...addIdentifiers(state, event.data.identifiers));
    state.registeredAt = minIso(minIso(state.registeredAt, at), state.firstSeenAt);
    return added;
  }
  if (!isTouchpointRecord(event)) return added;

  state.eventCount++;
  state.firstSeenAt = minIso(state.firstSeenAt, at);
  if (state.registeredAt !== null) state.registeredAt = minIso(state.registeredAt, at);
  state.lastSeenAt = maxIso(state.lastSeenAt, at);
  add(state.types, event.type);
  if (meta.channel) add(state.channels, meta.channel);
  applyTouchpoint(state, event, added);
  return added;
}

function applyTouchpoint(state: Customer360State, event: ProjectedRecord<TouchpointType>, added: Identifier[]): void {
  const at = event.metadata.occurredAt;
  const pos = event.position;
  switch (event.type) {
    case 'purchase.completed': {
      const d = event.data;
      const m = money(state, d.currency);
      m.purchased = addMoneyUnits(m.purchased, toMoneyUnits(d.amount));
      state.purchases++;
      state.lastPurchaseAt = maxIso(state.lastPurchaseAt, at);
      state.firstCommercialAt = minIso(state.firstCommercialAt, at);
      state.lastWinAt = maxIso(state.lastWinAt, at);
      return;
    }
    case 'refund.issued': {
      const d = event.data;
      const m = money(state, d.currency);
      m.refunded = addMoneyUnits(m.refunded, toMoneyUnits(d.amount));
      state.refunds++;
      return;
    }
    case 'order.cancelled':
      state.cancelledOrders++;
      return;
    case 'survey.answered': {
      const d = event.data;
      if (d.nps !== undefined) state.nps = stampIfLater(state.nps, d.nps, at, pos);
      if (d.csat !== undefined) state.csat = stampIfLater(state.csat, d.csat, at, pos);
      if (d.ces !== undefined) state.ces = stampIfLater(state.ces, d.ces, at, pos);
      return;
    }
    case 'case.opened': {
      // the opening, not a status change: a repeated or late case.opened never makes a second case
      // nor reopens one (docs/read-models.md, customer 360 cases)
      const d = event.data;
      const c = caseOf(state, d.caseId, at);
      if (isEarlier(c.opening, at, pos)) setOpening(c, { at, pos }, d.category, d.priority);
      return;
    }
    case 'case.resolved': {
      const d = event.data;
      const c = caseOf(state, d.caseId, at);
      setCaseStatus(c, 'resolved', undefined, at, pos);
      if (isLater(c.resolved, at, pos)) setResolution(c, { at, pos }, d.firstContactResolution);
      return;
    }
    case 'case.reopened': {
      const d = event.data;
      const c = caseOf(state, d.caseId, at);
      c.reopens++;
      setCaseStatus(c, 'open', undefined, at, pos);
      return;
    }
    case 'case.status-changed': {
      const d = event.data;
      setCaseStatus(caseOf(state, d.caseId, at), 'open', d.status, at, pos);
      return;
    }
    case 'case.closed': {
      const d = event.data;
      setCaseStatus(caseOf(state, d.caseId, at), 'closed', undefined, at, pos);
      return;
    }
    case 'case.assigned': {
      const d = event.data;
      const c = caseOf(state, d.caseId, at);
      if (isLater(c.assigned, at, pos)) setAssignment(c, { at, pos }, d.assignee, d.team);
      return;
    }
    case 'case.escalated': {
      // counted, but not a status change: a resolved case escalated later stays resolved until a
      // case.reopened (docs/read-models.md, customer 360 cases; the seed generator's expectation agrees)
      const d = event.data;
      caseOf(state, d.caseId, at).escalations++;
      return;
    }
    case 'complaint.filed':
      state.complaints++;
      state.lastComplaintAt = maxIso(state.lastComplaintAt, at);
      return;
    case 'subscription.started': {
      const d = event.data;
      const s = subscriptionOf(state, d.subscriptionId);
      s.startedAt = minIso(s.startedAt ?? null, at) ?? undefined;
      setPlan(s, d.plan, d.monthlyAmount, d.currency, at, pos);
      setSubscriptionStatus(s, 'active', at, pos);
      state.firstCommercialAt = minIso(state.firstCommercialAt, at);
      state.lastWinAt = maxIso(state.lastWinAt, at);
      return;
    }
    case 'subscription.changed': {
      const d = event.data;
      const s = subscriptionOf(state, d.subscriptionId);
      setPlan(s, d.toPlan, d.monthlyAmount, d.currency, at, pos);
      setSubscriptionStatus(s, 'active', at, pos);
      return;
    }
    case 'subscription.cancelled': {
      const d = event.data;
      setSubscriptionStatus(subscriptionOf(state, d.subscriptionId), 'cancelled', at, pos);
      state.lastCancelAt = maxIso(state.lastCancelAt, at);
      return;
    }
    case 'consent.changed': {
      const d = event.data;
      const next = stampIfLater(state.consents[d.purpose], d.granted, at, pos);
      if (next) state.consents[d.purpose] = next;
      return;
    }
    case 'profile.updated': {
      const d = event.data;
      for (const [field, value] of Object.entries(d)) {
        if (value === undefined) continue;
        const next = stampIfLater(state.profile[field], value as unknown, at, pos);
        if (next) state.profile[field] = next;
      }
      return;
    }
    case 'identifiers.linked': {
      const d = event.data;
      added.push(...addIdentifiers(state, d.identifiers));
      return;
    }
    case 'contact.handled':
    case 'message.received':
    case 'message.sent':
    case 'web.visited':
    case 'campaign.responded':
      return; // counted by channel and type above; their detail lives in the timeline
    default: {
      const unhandled: never = event;
      throw new Error(`customer-360 does not know the touch-point type ${(unhandled as ProjectedRecord).type}`);
    }
  }
}

function money(state: Customer360State, currency: string): MoneyState {
  return (state.money[currency] ??= { purchased: 0, refunded: 0 });
}

function caseOf(state: Customer360State, caseId: string, at: string): CaseState {
  const existing = state.cases[caseId];
  if (existing) {
    if (at < existing.openedAt) existing.openedAt = at;
    return existing;
  }
  // an empty status stamp loses to any real event: a case first seen through an escalation is
  // open until an event of the case says otherwise
  const created: CaseState = { openedAt: at, status: 'open', statusAt: '', statusPos: -1, escalations: 0, reopens: 0 };
  state.cases[caseId] = created;
  return created;
}

function setCaseStatus(c: CaseState, status: CaseState['status'], workStatus: CaseWorkStatus | undefined, at: string, pos: number): void {
  if (!isLater({ at: c.statusAt, pos: c.statusPos }, at, pos)) return;
  c.status = status;
  setDefined(c, 'workStatus', workStatus);
  c.statusAt = at;
  c.statusPos = pos;
}

function setOpening(c: CaseState, stamp: Stamp, category: string | undefined, priority: string | undefined): void {
  c.opening = stamp;
  setDefined(c, 'category', category);
  setDefined(c, 'priority', priority);
}

function setAssignment(c: CaseState, stamp: Stamp, assignee: string | undefined, team: string | undefined): void {
  c.assigned = stamp;
  setDefined(c, 'assignee', assignee);
  setDefined(c, 'team', team);
}

function setResolution(c: CaseState, stamp: Stamp, firstContactResolution: boolean | undefined): void {
  c.resolved = stamp;
  setDefined(c, 'firstContactResolution', firstContactResolution);
}

function subscriptionOf(state: Customer360State, id: string): SubscriptionState {
  return (state.subscriptions[id] ??= { status: 'active', statusAt: '', statusPos: -1 });
}

function setPlan(
  s: SubscriptionState,
  plan: string,
  monthlyAmount: number | undefined,
  currency: string | undefined,
  at: string,
  pos: number,
): void {
  if (s.planAt !== undefined && !isLater({ at: s.planAt, pos: s.planPos ?? -1 }, at, pos)) return;
  s.plan = plan;
  s.planAt = at;
  s.planPos = pos;
  setDefined(s, 'monthlyAmount', monthlyAmount);
  setDefined(s, 'currency', currency);
}

/**
 * Never leaves a key holding `undefined`: JSON drops such keys, so after a batch boundary the key
 * would come back in another place of the document, and rebuilds would stop being byte-identical.
 */
function setDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value === undefined) delete target[key];
  else target[key] = value;
}

function setSubscriptionStatus(s: SubscriptionState, status: SubscriptionState['status'], at: string, pos: number): void {
  if (!isLater({ at: s.statusAt, pos: s.statusPos }, at, pos)) return;
  s.status = status;
  s.statusAt = at;
  s.statusPos = pos;
}

/**
 * Folds a merged-away customer's state into the survivor's. Every aggregate combines the same way
 * it folds events, so "A then merge B" equals folding all of A's and B's events into one state.
 */
export function absorbCustomer(
  survivor: Customer360State,
  merged: Customer360State,
  record: Extract<MergeRecord, { kind: 'absorbed' }>,
): void {
  survivor.lastPosition = Math.max(survivor.lastPosition, merged.lastPosition, record.position);
  for (const [kind, values] of Object.entries(merged.identifiers))
    addIdentifiers(
      survivor,
      values.map((value) => ({ kind, value }) as Identifier),
    );
  survivor.firstSeenAt = minIso(survivor.firstSeenAt, merged.firstSeenAt);
  survivor.registeredAt = minIso(survivor.registeredAt, merged.registeredAt);
  if (survivor.registeredAt !== null) survivor.registeredAt = minIso(survivor.registeredAt, survivor.firstSeenAt);
  survivor.lastSeenAt = maxIso(survivor.lastSeenAt, merged.lastSeenAt);
  survivor.eventCount += merged.eventCount;
  for (const [k, n] of Object.entries(merged.channels)) add(survivor.channels, k, n);
  for (const [k, n] of Object.entries(merged.types)) add(survivor.types, k, n);
  for (const [currency, m] of Object.entries(merged.money)) {
    const target = money(survivor, currency);
    target.purchased = addMoneyUnits(target.purchased, m.purchased);
    target.refunded = addMoneyUnits(target.refunded, m.refunded);
  }
  survivor.purchases += merged.purchases;
  survivor.refunds += merged.refunds;
  survivor.cancelledOrders += merged.cancelledOrders;
  survivor.firstCommercialAt = minIso(survivor.firstCommercialAt, merged.firstCommercialAt);
  survivor.lastWinAt = maxIso(survivor.lastWinAt, merged.lastWinAt);
  survivor.lastCancelAt = maxIso(survivor.lastCancelAt, merged.lastCancelAt);
  survivor.lastPurchaseAt = maxIso(survivor.lastPurchaseAt, merged.lastPurchaseAt);
  for (const key of ['nps', 'csat', 'ces'] as const) {
    const m = merged[key];
    if (m && isLater(survivor[key], m.at, m.pos)) survivor[key] = m;
  }
  survivor.complaints += merged.complaints;
  survivor.lastComplaintAt = maxIso(survivor.lastComplaintAt, merged.lastComplaintAt);
  for (const [id, m] of Object.entries(merged.cases)) {
    const s = survivor.cases[id];
    if (!s) {
      // a copy: the merged-away row keeps its own state, which later events must not change
      survivor.cases[id] = structuredClone(m);
      continue;
    }
    s.openedAt = s.openedAt < m.openedAt ? s.openedAt : m.openedAt;
    s.escalations += m.escalations;
    s.reopens += m.reopens;
    if (m.opening && isEarlier(s.opening, m.opening.at, m.opening.pos)) setOpening(s, m.opening, m.category, m.priority);
    setCaseStatus(s, m.status, m.workStatus, m.statusAt, m.statusPos);
    if (m.assigned && isLater(s.assigned, m.assigned.at, m.assigned.pos)) setAssignment(s, m.assigned, m.assignee, m.team);
    if (m.resolved && isLater(s.resolved, m.resolved.at, m.resolved.pos)) setResolution(s, m.resolved, m.firstContactResolution);
  }
  for (const [id, m] of Object.entries(merged.subscriptions)) {
    const s = survivor.subscriptions[id];
    if (!s) {
      survivor.subscriptions[id] = structuredClone(m);
      continue;
    }
    if (m.startedAt) s.startedAt = minIso(s.startedAt ?? null, m.startedAt) ?? undefined;
    if (m.planAt !== undefined) setPlan(s, m.plan!, m.monthlyAmount, m.currency, m.planAt, m.planPos!);
    setSubscriptionStatus(s, m.status, m.statusAt, m.statusPos);
  }
  for (const [purpose, c] of Object.entries(merged.consents)) {
    if (isLater(survivor.consents[purpose], c.at, c.pos)) survivor.consents[purpose] = c;
  }
  for (const [field, p] of Object.entries(merged.profile)) {
    if (isLater(survivor.profile[field], p.at, p.pos)) survivor.profile[field] = p;
  }
  // the survivor's history includes whatever the merged-away customer had absorbed before
  survivor.merges = [...survivor.merges, ...merged.merges.filter((m) => m.kind === 'absorbed' || m.kind === 'unmerged'), record].sort(
    (a, b) => a.position - b.position,
  );
}

/**
 * absorbCustomer for the read models that keep a copy of the 360's facts only (segments, signals): the
 * merge entry without its rules and identifiers (personal data such a copy does not keep).
 */
export function absorbCustomerFacts(
  survivor: Customer360State,
  merged: Customer360State,
  merge: { mergeId: string; at: string; position: number },
): void {
  absorbCustomer(survivor, merged, {
    kind: 'absorbed',
    mergeId: merge.mergeId,
    mergedIds: [merged.customerId],
    at: merge.at,
    position: merge.position,
    rule: '',
    survivorRule: '',
    identifiers: [],
  });
}

/** An erasure: the state keeps its counts, values and dates, and loses every identifier and profile attribute. */
export function eraseCustomer360(state: Customer360State): void {
  state.identifiers = {};
  state.profile = {};
  for (const m of state.merges) if (m.kind === 'absorbed') m.identifiers = [];
}
