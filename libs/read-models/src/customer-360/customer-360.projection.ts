import { Injectable } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { customerIdOfStream, identifierKey, type Identifier, type PayloadOf } from '@cem/domain';
import { ProjectedEvent, type ProjectedRecord } from '../projector/projected-event';
import type { Projection } from '../projector/projection';
import type { DirectSql } from '../store/direct-sql';
import type { ReadModelsDb } from '../store/read-models-db';
import type { C360CustomersTable, C360TimelineTable } from './customer-360.schema';
import { CUSTOMER_360_TABLES } from './customer-360.schema';
import { documentJson, emptyCustomer360, fromMoneyUnits, type Customer360State } from './customer-360.state';
import { absorbCustomer, evolveCustomer360 } from './evolve';
import { npsCategory, valueSegment } from './lifecycle';

/** What one batch has loaded and changed. Bounded by the batch: nothing outlives it. */
interface Customer360Batch {
  states: Map<string, Customer360State>;
  dirty: Set<string>;
  timeline: C360TimelineTable[];
  identifiers: Map<string, { kind: string; value: string; customer_id: string }>;
  /** merges in log order: rows of `from` move to `to` after this batch's inserts */
  repoints: { from: string; to: string }[];
}

/**
 * The customer-360 projection. Events of a merged-away customer's stream belong to its survivor:
 * every event is folded into the customer its stream's customer resolves to at that point of the
 * log, and a merge folds the merged-away state into the survivor (see evolve.ts).
 */
@Injectable()
@EventsHandler(ProjectedEvent)
export class Customer360Projection implements IEventHandler<ProjectedEvent>, Projection<Customer360Batch> {
  readonly projectionName = 'customer-360';
  readonly tables = CUSTOMER_360_TABLES;

  async beginBatch(_trx: Transaction<ReadModelsDb>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<Customer360Batch> {
    const ids = new Set<string>();
    for (const r of records) {
      ids.add(streamCustomer(r));
      if (r.type === 'customers.merged') {
        const d = r.data as PayloadOf<'customers.merged'>;
        ids.add(d.survivorId);
        for (const m of d.mergedIds) ids.add(m);
      } else if (r.type === 'customer.merged-into') {
        ids.add((r.data as PayloadOf<'customer.merged-into'>).survivorId);
      }
    }
    const states = new Map<string, Customer360State>();
    loadStates(sql, [...ids], states);
    // merged-away customers point at their live survivor: load those too
    const survivors = [...states.values()].map((s) => s.mergedInto).filter((id): id is string => id !== null && !states.has(id));
    loadStates(sql, [...new Set(survivors)], states);
    return { states, dirty: new Set(), timeline: [], identifiers: new Map(), repoints: [] };
  }

  async handle(event: ProjectedEvent): Promise<void> {
    const batch = event.batch.stateFor(this, event.record.position);
    if (batch) this.apply(batch, event.record);
  }

  private apply(batch: Customer360Batch, record: ProjectedRecord): void {
    const streamCustomerId = streamCustomer(record);
    if (record.type === 'customers.merged') {
      const d = record.data as PayloadOf<'customers.merged'>;
      this.merge(batch, record, d.survivorId, d.mergedIds, d.evidence);
      return;
    }
    if (record.type === 'customer.merged-into') {
      // normally the survivor's customers.merged came first and this changes nothing; a store that
      // orders the two otherwise still ends with the same merge
      const d = record.data as PayloadOf<'customer.merged-into'>;
      this.merge(batch, record, d.survivorId, [d.customerId], undefined);
      return;
    }
    const owner = this.canonical(batch, streamCustomerId);
    const state = this.stateOf(batch, owner);
    if (record.position <= state.lastPosition) return;
    const added = evolveCustomer360(state, record);
    batch.dirty.add(owner);
    for (const id of added) this.index(batch, id, owner);
    this.addToTimeline(batch, record, owner, streamCustomerId);
  }

  private merge(
    batch: Customer360Batch,
    record: ProjectedRecord,
    survivorId: string,
    mergedIds: string[],
    evidence: PayloadOf<'customers.merged'>['evidence'] | undefined,
  ): void {
    const survivor = this.canonical(batch, survivorId);
    const target = this.stateOf(batch, survivor);
    if (record.position <= target.lastPosition) return;
    for (const mergedId of mergedIds) {
      const from = this.canonical(batch, mergedId);
      if (from === survivor) continue;
      const merged = this.stateOf(batch, from);
      absorbCustomer(target, merged, {
        kind: 'absorbed',
        mergeId: evidence ? record.eventId : (record.metadata.causationId ?? record.eventId),
        mergedIds: [from],
        at: record.metadata.occurredAt,
        position: record.position,
        rule: evidence?.rule ?? 'unknown',
        survivorRule: evidence?.survivorRule ?? 'unknown',
        identifiers: evidence?.identifiers ?? [],
      });
      merged.mergedInto = survivor;
      merged.merges.push({ kind: 'merged-into', survivorId: survivor, at: record.metadata.occurredAt, position: record.position });
      merged.lastPosition = Math.max(merged.lastPosition, record.position);
      batch.dirty.add(from);
      // customers merged into `from` earlier now point at the new survivor too (no chains to follow)
      for (const s of batch.states.values()) {
        if (s.mergedInto === from) {
          s.mergedInto = survivor;
          batch.dirty.add(s.customerId);
        }
      }
      for (const entry of batch.identifiers.values()) if (entry.customer_id === from) entry.customer_id = survivor;
      batch.repoints.push({ from, to: survivor });
    }
    target.lastPosition = Math.max(target.lastPosition, record.position);
    batch.dirty.add(survivor);
    this.addToTimeline(batch, record, survivor, streamCustomer(record));
  }

  private canonical(batch: Customer360Batch, customerId: string): string {
    return batch.states.get(customerId)?.mergedInto ?? customerId;
  }

  private stateOf(batch: Customer360Batch, customerId: string): Customer360State {
    let state = batch.states.get(customerId);
    if (!state) batch.states.set(customerId, (state = emptyCustomer360(customerId)));
    return state;
  }

  private index(batch: Customer360Batch, id: Identifier, customerId: string): void {
    batch.identifiers.set(identifierKey(id), { kind: id.kind, value: id.value, customer_id: customerId });
  }

  private addToTimeline(batch: Customer360Batch, record: ProjectedRecord, owner: string, streamCustomerId: string): void {
    const m = record.metadata;
    batch.timeline.push({
      position: record.position,
      customer_id: owner,
      stream_customer_id: streamCustomerId,
      occurred_at: m.occurredAt,
      event_id: record.eventId,
      type: record.type,
      channel: m.channel ?? null,
      source: m.source,
      agent_id: m.agentId ?? null,
      correlation_id: m.correlationId ?? null,
      data: JSON.stringify(record.data ?? null),
    });
  }

  async commitBatch(_trx: Transaction<ReadModelsDb>, batch: Customer360Batch, sql: DirectSql): Promise<void> {
    // inserts first, then merges in log order: a row written for `from` earlier in the batch moves too
    const insertTimeline = sql.prepare(INSERT_TIMELINE);
    for (const t of batch.timeline) {
      insertTimeline.run(t.position, t.customer_id, t.stream_customer_id, t.occurred_at, t.event_id, t.type, t.channel, t.source, t.agent_id, t.correlation_id, t.data);
    }
    const upsertIdentifier = sql.prepare(UPSERT_IDENTIFIER);
    for (const i of batch.identifiers.values()) upsertIdentifier.run(i.kind, i.value, i.customer_id);
    if (batch.repoints.length > 0) {
      const [identifiers, timeline, customers] = REPOINT.map((text) => sql.prepare(text));
      for (const { from, to } of batch.repoints) {
        identifiers.run(to, from);
        timeline.run(to, from);
        customers.run(to, from);
      }
    }
    const upsertCustomer = sql.prepare(UPSERT_CUSTOMER);
    for (const id of [...batch.dirty].sort()) {
      const row = toRow(batch.states.get(id)!);
      upsertCustomer.run(...CUSTOMER_COLUMNS.map((c) => row[c]));
    }
  }
}

const UPDATABLE: (keyof C360CustomersTable)[] = [
  'merged_into',
  'first_seen_at',
  'last_seen_at',
  'event_count',
  'net_value',
  'value_segment',
  'nps',
  'nps_category',
  'first_commercial_at',
  'last_win_at',
  'last_cancel_at',
  'last_complaint_at',
  'active_subscriptions',
  'open_cases',
  'last_position',
  'doc',
];

const CUSTOMER_COLUMNS: (keyof C360CustomersTable)[] = ['customer_id', ...UPDATABLE];
const INSERT_TIMELINE =
  'INSERT INTO c360_timeline (position, customer_id, stream_customer_id, occurred_at, event_id, type, channel, source, agent_id, correlation_id, data) ' +
  'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (position) DO NOTHING';
const UPSERT_IDENTIFIER = 'INSERT INTO c360_identifiers (kind, value, customer_id) VALUES (?, ?, ?) ON CONFLICT (kind, value) DO UPDATE SET customer_id = excluded.customer_id';
const REPOINT = [
  'UPDATE c360_identifiers SET customer_id = ? WHERE customer_id = ?',
  'UPDATE c360_timeline SET customer_id = ? WHERE customer_id = ?',
  'UPDATE c360_customers SET merged_into = ? WHERE merged_into = ?',
];
const UPSERT_CUSTOMER =
  `INSERT INTO c360_customers (${CUSTOMER_COLUMNS.join(', ')}) VALUES (${CUSTOMER_COLUMNS.map(() => '?').join(', ')}) ` +
  `ON CONFLICT (customer_id) DO UPDATE SET ${UPDATABLE.map((c) => `${c} = excluded.${c}`).join(', ')}`;
/** one statement for any number of ids: the ids travel as one JSON array */
const SELECT_DOCS = 'SELECT customer_id, doc FROM c360_customers WHERE customer_id IN (SELECT value FROM json_each(?))';

const streamCustomer = (r: ProjectedRecord): string => customerIdOfStream(r.streamId) ?? r.metadata.customerId;

function loadStates(sql: DirectSql, ids: string[], into: Map<string, Customer360State>): void {
  if (ids.length === 0) return;
  const rows = sql.prepare(SELECT_DOCS).all<{ customer_id: string; doc: string }>(JSON.stringify(ids));
  for (const row of rows) into.set(row.customer_id, JSON.parse(row.doc) as Customer360State);
}

/** Net value over all currencies in major units, summed in a fixed order from exact integers. */
export function netValueOf(state: Customer360State): number {
  let units = 0;
  for (const currency of Object.keys(state.money).sort()) units += state.money[currency].purchased - state.money[currency].refunded;
  return fromMoneyUnits(units);
}

export function toRow(state: Customer360State): C360CustomersTable {
  const netValue = netValueOf(state);
  return {
    customer_id: state.customerId,
    merged_into: state.mergedInto,
    first_seen_at: state.firstSeenAt,
    last_seen_at: state.lastSeenAt,
    event_count: state.eventCount,
    net_value: netValue,
    value_segment: valueSegment(state.purchases, netValue),
    nps: state.nps?.value ?? null,
    nps_category: state.nps ? npsCategory(state.nps.value) : null,
    first_commercial_at: state.firstCommercialAt,
    last_win_at: state.lastWinAt,
    last_cancel_at: state.lastCancelAt,
    last_complaint_at: state.lastComplaintAt,
    active_subscriptions: Object.values(state.subscriptions).filter((s) => s.status === 'active').length,
    open_cases: Object.values(state.cases).filter((c) => c.status === 'open').length,
    last_position: state.lastPosition,
    doc: documentJson(state),
  };
}
