import { Injectable } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { identifierKey, type Identifier } from '@cem/domain';
import { CustomerStates, customersTouchedBy } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import { unhandledType, type ProjectedRecord } from '../projector/projected-record';
import type { Projection } from '../projector/projection';
import type { DirectSql } from '../store/direct-sql';
import { customer360Model } from './customer-360.model';
import { CUSTOMER_360, type C360CustomersTable, type C360TimelineTable, type Customer360Tables } from './customer-360.schema';
import { addMoneyUnits, documentJson, fromMoneyUnits, subMoneyUnits, type Customer360State, type MoneyUnits } from './customer-360.state';
import { evolveCustomer360 } from './evolve';
import { npsCategory, valueSegment } from './lifecycle';

/** What one batch has loaded and changed. Bounded by the batch: nothing outlives it. */
interface Customer360Batch {
  customers: CustomerStates<Customer360State>;
  timeline: C360TimelineTable[];
  identifiers: Map<string, { kind: string; value: string; customer_id: string }>;
  /** merges in log order: rows of `from` move to `to` after this batch's inserts */
  repoints: { from: string; to: string }[];
}

/**
 * The customer-360 projection, on the customer-keyed kit (kit/customer-states.ts): events of a
 * merged-away customer's stream belong to its survivor, and a merge folds the merged-away state
 * into the survivor (evolve.ts's absorbCustomer).
 */
@Injectable()
@EventsHandler(ProjectedEvent)
export class Customer360Projection implements IEventHandler<ProjectedEvent>, Projection<Customer360Batch, Customer360Tables> {
  readonly projectionName = CUSTOMER_360;

  async beginBatch(_trx: Transaction<Customer360Tables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<Customer360Batch> {
    const customers = new CustomerStates(customer360Model);
    customers.preload(loadStates(sql, customersTouchedBy(records)));
    // merged-away customers point at their live survivor: load those too
    const survivors = new Set<string>();
    for (const s of customers.all()) if (s.mergedInto !== null && !customers.has(s.mergedInto)) survivors.add(s.mergedInto);
    customers.preload(loadStates(sql, [...survivors]));
    return { customers, timeline: [], identifiers: new Map(), repoints: [] };
  }

  async handle(event: ProjectedEvent): Promise<void> {
    const batch = event.batch.stateFor(this, event.record.position);
    if (batch) this.apply(batch, event.record);
  }

  private apply(batch: Customer360Batch, record: ProjectedRecord): void {
    const route = batch.customers.route(record);
    switch (route.kind) {
      case 'skip':
        return;
      case 'merge': {
        const to = route.survivor.customerId;
        for (const { customerId: from } of route.absorbed) {
          for (const entry of batch.identifiers.values()) if (entry.customer_id === from) entry.customer_id = to;
          batch.repoints.push({ from, to });
        }
        this.addToTimeline(batch, record, to, route.streamCustomerId);
        return;
      }
      case 'event': {
        const owner = route.owner.customerId;
        for (const id of evolveCustomer360(route.owner, record)) this.index(batch, id, owner);
        this.addToTimeline(batch, record, owner, route.streamCustomerId);
        return;
      }
      default:
        unhandledType(route);
    }
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

  async commitBatch(_trx: Transaction<Customer360Tables>, batch: Customer360Batch, sql: DirectSql): Promise<void> {
    // inserts first, then merges in log order: a row written for `from` earlier in the batch moves too
    const insertTimeline = sql.prepare(INSERT_TIMELINE);
    for (const t of batch.timeline) {
      insertTimeline.run(
        t.position,
        t.customer_id,
        t.stream_customer_id,
        t.occurred_at,
        t.event_id,
        t.type,
        t.channel,
        t.source,
        t.agent_id,
        t.correlation_id,
        t.data,
      );
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
    for (const state of batch.customers.changedStates()) {
      const row = toRow(state);
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
const UPSERT_IDENTIFIER =
  'INSERT INTO c360_identifiers (kind, value, customer_id) VALUES (?, ?, ?) ON CONFLICT (kind, value) DO UPDATE SET customer_id = excluded.customer_id';
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

function loadStates(sql: DirectSql, ids: string[]): Customer360State[] {
  if (ids.length === 0) return [];
  return sql
    .prepare(SELECT_DOCS)
    .all<{ customer_id: string; doc: string }>(JSON.stringify(ids))
    .map((row) => JSON.parse(row.doc) as Customer360State);
}

/** Net value over all currencies in major units, summed in a fixed order from exact integers. */
export function netValueOf(state: Customer360State): number {
  let units: MoneyUnits = 0;
  for (const currency of Object.keys(state.money).sort()) {
    const m = state.money[currency];
    units = addMoneyUnits(units, subMoneyUnits(m.purchased, m.refunded));
  }
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
