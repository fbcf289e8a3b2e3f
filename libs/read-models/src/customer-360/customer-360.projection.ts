import { createHash } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { PLAIN_IDENTIFIER_INDEX, type CustomersUnmergedV1, type Identifier, type IdentifierIndex } from '@cem/domain';
import { CustomerStates, customersTouchedBy, type CustomerModel } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import { unhandledType, type ProjectedRecord } from '../projector/projected-record';
import { PROJECTION_CONTEXT, type Projection, type ProjectionContext } from '../projector/projection';
import type { BulkUpsert, DirectSql } from '../store/direct-sql';
import { customer360ModelFor } from './customer-360.model';
import {
  CUSTOMER_360,
  CUSTOMER_360_VERSION,
  type C360CustomersTable,
  type C360TimelineTable,
  type Customer360Tables,
} from './customer-360.schema';
import { addMoneyUnits, documentJson, fromMoneyUnits, subMoneyUnits, type Customer360State, type MoneyUnits } from './customer-360.state';
import { identifierIndexValue } from './customer-360.query';
import { eraseCustomer360, evolveCustomer360 } from './evolve';
import { mapPath, personalPathsOf, PLAIN_STORED_VALUES, REMOVED, type StoredValues } from '@cem/privacy';
import { npsCategory, valueSegment } from './lifecycle';
import { openStates, sealTimeline, storedDocuments, timelineHoldsIdentifiers } from './stored-identifiers';

/**
 * Appended to the blind-index version: the documents and timeline rows hold the identifiers sealed
 * (stored-identifiers.ts). Copies projected before (plain identifiers, still readable) are
 * rebuild-needed. Change it when the stored form of identifiers changes again.
 */
const SEALED_IDENTIFIERS_FORMAT = ':sealed-identifiers-1';

/** What one batch has loaded and changed. Bounded by the batch: nothing outlives it. */
interface Customer360Batch {
  customers: CustomerStates<Customer360State>;
  timeline: C360TimelineTable[];
  identifiers: Map<string, { kind: string; value: string; customer_id: string }>;
  /** merges in log order: rows of `from` move to `to` after this batch's inserts */
  repoints: { from: string; to: string }[];
  /**
   * customers whose personal data was erased in this batch: their stored rows are scrubbed at commit;
   * `splitFrom` are the customers an unmerge split each off (their index is checked too)
   */
  erasures: { customerId: string; splitFrom: string[] }[];
  /** unmerges in log order: timeline rows and index entries change owner at commit (after this batch's inserts) */
  unmerges: { owners: ReadonlyMap<number, string>; customerIds: string[]; splitId: string; streams: string[] }[];
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
  private readonly identifierIndex: IdentifierIndex;
  /** the fold, keying identifiers like the registry (an unmerge names the identifiers it moved that way) */
  private readonly model: CustomerModel<Customer360State>;
  /** identifiers in the documents and timeline are sealed with the customer's key when privacy is on */
  private readonly storedValues: StoredValues;
  /**
   * With the blind index the identifier index holds keyed hashes: the checkpoint's version carries the
   * index's fingerprint, so switching privacy on (or another PRIVACY_INDEX_SECRET) rebuilds the read
   * model from the log, and no row keyed the old way stays. It carries the stored format of the
   * identifiers too (SEALED_IDENTIFIERS_FORMAT): a copy whose documents hold plaintext identifiers is
   * rebuilt the same way. Plain: the read model's version.
   */
  readonly configuredVersion?: number;

  constructor(@Optional() @Inject(PROJECTION_CONTEXT) private readonly context?: ProjectionContext) {
    this.identifierIndex = context?.identifierIndex ?? PLAIN_IDENTIFIER_INDEX;
    this.storedValues = context?.storedValues ?? PLAIN_STORED_VALUES;
    this.model = customer360ModelFor(this.identifierIndex);
    if (this.identifierIndex.mode === 'blind')
      this.configuredVersion =
        parseInt(
          createHash('sha256')
            .update(`${CUSTOMER_360_VERSION}:${this.identifierIndex.fingerprint}${SEALED_IDENTIFIERS_FORMAT}`)
            .digest('hex')
            .slice(0, 7),
          16,
        ) + 1000;
  }

  async beginBatch(_trx: Transaction<Customer360Tables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<Customer360Batch> {
    const customers = new CustomerStates(this.model);
    customers.preload(await loadStates(sql, customersTouchedBy(records), this.storedValues));
    // merged-away customers point at their live survivor: load those too
    const survivors = new Set<string>();
    for (const s of customers.all()) if (s.mergedInto !== null && !customers.has(s.mergedInto)) survivors.add(s.mergedInto);
    customers.preload(await loadStates(sql, [...survivors], this.storedValues));
    await customers.preloadHistories(records, this.context?.history);
    return { customers, timeline: [], identifiers: new Map(), repoints: [], erasures: [], unmerges: [] };
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
      case 'unmerge': {
        const { survivor, split, restored } = route;
        // the index answers what the identity registry answers: the identifiers the unmerge moved (keyed
        // as the registry keys them, like this index) to the split customer, every other identifier of
        // the two refolded states to the survivor (the registry keeps those a partial unmerge did not
        // name). The moved keys read as removed once the key sealing them is destroyed (the split customer's;
        // the survivor's for an unmerge written before they were re-sealed): then the split customer's
        // refolded identifiers are its own, as they are after an unmerge of all.
        const moved = movedIndexRows(record.data as Partial<CustomersUnmergedV1>);
        for (const state of [survivor, split])
          for (const [kind, values] of Object.entries(state.identifiers))
            for (const value of values)
              this.index(
                batch,
                { kind, value } as Identifier,
                state === split && moved.length === 0 ? split.customerId : survivor.customerId,
              );
        for (const { kind, value } of moved) this.indexRow(batch, kind, value, split.customerId);
        batch.unmerges.push({
          owners: route.owners,
          customerIds: [survivor.customerId, split.customerId],
          splitId: split.customerId,
          streams: [split.customerId, ...restored.map((r) => r.customerId)],
        });
        // the unmerge shows on both timelines: on the survivor's (its stream) and, as a copy, the split customer's merge history
        this.addToTimeline(batch, record, survivor.customerId, route.streamCustomerId);
        return;
      }
      case 'event': {
        const owner = route.owner.customerId;
        for (const id of evolveCustomer360(route.owner, record)) this.index(batch, id, owner);
        if (record.type === 'personal-data.erased') this.erase(batch, record.data.erasedCustomerIds);
        this.addToTimeline(batch, record, owner, route.streamCustomerId);
        return;
      }
      default:
        unhandledType(route);
    }
  }

  /**
   * Live erasure: the states lose their identifiers and profile, the identifier index its rows, and
   * the timeline the personal fields of its events (at commit). A rebuild gets the same from the log,
   * whose events read without personal values once the keys are destroyed.
   */
  private erase(batch: Customer360Batch, customerIds: string[]): void {
    for (const id of customerIds) {
      const state = batch.customers.get(id);
      const splitFrom = state.merges.flatMap((m) => (m.kind === 'unmerged' && m.splitId === id ? [m.survivorId] : []));
      eraseCustomer360(state);
      batch.customers.markChanged(id);
      for (const [key, entry] of batch.identifiers) if (entry.customer_id === id) batch.identifiers.delete(key);
      batch.erasures.push({ customerId: id, splitFrom });
    }
  }

  private index(batch: Customer360Batch, id: Identifier, customerId: string): void {
    this.indexRow(batch, id.kind, identifierIndexValue(this.identifierIndex, id), customerId);
  }

  /** One row of the index, by its stored kind and value (a blind key's hash with the blind index). */
  private indexRow(batch: Customer360Batch, kind: string, value: string, customerId: string): void {
    batch.identifiers.set(`${kind}:${value}`, { kind, value, customer_id: customerId });
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
    const timeline = await sealTimelineRows(batch.timeline, this.storedValues);
    await sql.upsert(
      INSERT_TIMELINE,
      timeline.map((t) => TIMELINE_COLUMNS.map((c) => t[c])),
    );
    // the index rows of earlier batches follow this batch's merges before its own rows are written: the
    // batch's entries were repointed as it went, and an unmerge later in the batch must not be undone
    for (const { from, to } of batch.repoints) await sql.run(REPOINT_IDENTIFIERS, [to, from]);
    await sql.upsert(
      UPSERT_IDENTIFIER,
      [...batch.identifiers.values()].map((i) => [i.kind, i.value, i.customer_id]),
    );
    for (const { from, to } of batch.repoints) for (const text of REPOINT) await sql.run(text, [to, from]);
    for (const u of batch.unmerges) await reattributeTimeline(sql, u);
    for (const { customerId, splitFrom } of batch.erasures) {
      await scrubErasedRows(sql, customerId);
      for (const survivorId of splitFrom)
        await dropUnheldIndexRows(sql, survivorId, customerId, batch.customers, this.identifierIndex, this.storedValues);
    }
    const changed = batch.customers.changedStates();
    const docs = await storedDocuments(changed, this.storedValues);
    await sql.upsert(
      UPSERT_CUSTOMER,
      changed.map((state) => {
        const row = toRow(state, docs.get(state.customerId));
        return CUSTOMER_COLUMNS.map((c) => row[c]);
      }),
    );
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
const TIMELINE_COLUMNS: (keyof C360TimelineTable)[] = [
  'position',
  'customer_id',
  'stream_customer_id',
  'occurred_at',
  'event_id',
  'type',
  'channel',
  'source',
  'agent_id',
  'correlation_id',
  'data',
];
const INSERT_TIMELINE: BulkUpsert = { table: 'c360_timeline', columns: TIMELINE_COLUMNS, conflict: ['position'], update: 'nothing' };
const UPSERT_IDENTIFIER: BulkUpsert = {
  table: 'c360_identifiers',
  columns: ['kind', 'value', 'customer_id'],
  conflict: ['kind', 'value'],
  update: ['customer_id'],
};
const REPOINT_IDENTIFIERS = 'UPDATE c360_identifiers SET customer_id = ? WHERE customer_id = ?';
const REPOINT = [
  'UPDATE c360_timeline SET customer_id = ? WHERE customer_id = ?',
  'UPDATE c360_customers SET merged_into = ? WHERE merged_into = ?',
];
const UPSERT_CUSTOMER: BulkUpsert = { table: 'c360_customers', columns: CUSTOMER_COLUMNS, conflict: ['customer_id'], update: UPDATABLE };

async function loadStates(sql: DirectSql, ids: string[], stored: StoredValues): Promise<Customer360State[]> {
  const rows = await sql.selectByKeys<{ doc: string }>('c360_customers', ['doc'], 'customer_id', ids);
  const states = rows.map((row) => JSON.parse(row.doc) as Customer360State);
  await openStates(states, stored);
  return states;
}

/** The batch's timeline rows as stored: the identifiers in registrations, links and merge evidence sealed. */
async function sealTimelineRows(rows: C360TimelineTable[], stored: StoredValues): Promise<C360TimelineTable[]> {
  if (!stored.sealed || !rows.some((r) => timelineHoldsIdentifiers(r.type))) return rows;
  const sealed = await sealTimeline(
    rows.map((row) => ({
      row,
      type: row.type,
      streamCustomerId: row.stream_customer_id,
      data: timelineHoldsIdentifiers(row.type) ? (JSON.parse(row.data) as unknown) : null,
    })),
    stored,
  );
  return sealed.map((r) => (r.data === null ? r.row : { ...r.row, data: JSON.stringify(r.data) }));
}

/** The index rows of the identifiers an unmerge moved: its keys are `kind:` and the index's value. */
function movedIndexRows(data: Partial<CustomersUnmergedV1>): { kind: string; value: string }[] {
  const rows: { kind: string; value: string }[] = [];
  for (const key of Array.isArray(data.identifiers) ? data.identifiers : []) {
    const at = typeof key === 'string' ? key.indexOf(':') : -1;
    if (at > 0) rows.push({ kind: key.slice(0, at), value: key.slice(at + 1) });
  }
  return rows;
}

/** Net value over all currencies in major units, summed in a fixed order from exact integers. */
export function netValueOf(state: Pick<Customer360State, 'money'>): number {
  let units: MoneyUnits = 0;
  for (const currency of Object.keys(state.money).sort()) {
    const m = state.money[currency];
    units = addMoneyUnits(units, subMoneyUnits(m.purchased, m.refunded));
  }
  return fromMoneyUnits(units);
}

/** The row of a state; `doc` is its stored document (identifiers sealed, see stored-identifiers.ts), plain by default. */
export function toRow(state: Customer360State, doc = documentJson(state)): C360CustomersTable {
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
    doc,
  };
}

/**
 * After an unmerge: the timeline rows of the split customer's streams are its own again, and every
 * earlier row of the two customers goes to the owner the refold gave its event (unmergedOwnerOf).
 */
async function reattributeTimeline(sql: DirectSql, u: Customer360Batch['unmerges'][number]): Promise<void> {
  for (const stream of u.streams)
    await sql.run('UPDATE c360_timeline SET customer_id = ? WHERE stream_customer_id = ?', [u.splitId, stream]);
  const rows = await sql.all<{ position: number; customer_id: string }>(
    `SELECT position, customer_id FROM c360_timeline WHERE customer_id IN (${u.customerIds.map(() => '?').join(', ')})`,
    u.customerIds,
  );
  for (const row of rows) {
    const owner = u.owners.get(row.position);
    if (owner !== undefined && owner !== row.customer_id && u.customerIds.includes(owner))
      await sql.run('UPDATE c360_timeline SET customer_id = ? WHERE position = ?', [owner, row.position]);
  }
}

/**
 * After the erasure of a customer split off `survivorId` by an unmerge: the survivor's index rows that
 * neither its own state nor another customer split off it holds. A partial unmerge leaves the
 * identifiers it did not name with the survivor, also one that only the split customer's events
 * named; once the split customer is erased those events read without it, so a rebuild gives it to
 * nobody, and the live index drops it too (live = rebuilt). Decided without the erased customer's
 * identifiers (its key may be destroyed before the projector reads the erasure). The identity
 * registry still resolves it to the survivor (docs/privacy.md, "Unmerge and erasure").
 */
async function dropUnheldIndexRows(
  sql: DirectSql,
  survivorId: string,
  erasedId: string,
  states: CustomerStates<Customer360State>,
  index: IdentifierIndex,
  stored: StoredValues,
): Promise<void> {
  const stateOf = async (id: string): Promise<Customer360State | undefined> =>
    states.has(id) ? states.get(id) : (await loadStates(sql, [id], stored))[0];
  let survivor = await stateOf(survivorId);
  // merged away since: its rows are its survivor's now
  if (survivor?.mergedInto) survivor = await stateOf(survivor.mergedInto);
  if (!survivor) return;
  const holders = [survivor];
  for (const m of survivor.merges)
    if (m.kind === 'unmerged' && m.survivorId === survivor.customerId && m.splitId !== erasedId) {
      const split = await stateOf(m.splitId);
      if (split) holders.push(split);
    }
  const held = new Set(
    holders.flatMap((h) =>
      Object.entries(h.identifiers).flatMap(([kind, values]) =>
        values.map((value) => `${kind}:${identifierIndexValue(index, { kind, value } as Identifier)}`),
      ),
    ),
  );
  const rows = await sql.all<{ kind: string; value: string }>('SELECT kind, value FROM c360_identifiers WHERE customer_id = ?', [
    survivor.customerId,
  ]);
  for (const row of rows)
    if (!held.has(`${row.kind}:${row.value}`))
      await sql.run('DELETE FROM c360_identifiers WHERE kind = ? AND value = ?', [row.kind, row.value]);
}

/**
 * Removes an erased customer's identifier rows and the personal fields of its timeline rows. A row of
 * its stream that an unmerge re-attributed to the customer split off is that customer's: with
 * encryption the unmerge sealed its values with the split customer's key (RESEALED_STREAM), so a
 * rebuild reads them too.
 */
async function scrubErasedRows(sql: DirectSql, customerId: string): Promise<void> {
  await sql.run('DELETE FROM c360_identifiers WHERE customer_id = ?', [customerId]);
  const rows = await sql.all<{ position: number; type: string; data: string }>(
    'SELECT position, type, data FROM c360_timeline WHERE customer_id = ?',
    [customerId],
  );
  // an unmerge that split this customer off, on the survivor's timeline: the identifiers it moved are
  // sealed with this customer's key, so a rebuild reads them as removed
  const unmerges = await sql.all<{ position: number; type: string; data: string }>(
    "SELECT position, type, data FROM c360_timeline WHERE type = 'customers.unmerged' AND customer_id <> ?",
    [customerId],
  );
  rows.push(...unmerges.filter((row) => (JSON.parse(row.data) as { splitId?: string } | null)?.splitId === customerId));
  for (const row of rows) {
    const data: unknown = JSON.parse(row.data);
    const scrubbed = personalPathsOf(row.type).data.reduce((node, p) => mapPath(node, p, () => REMOVED, 'data'), data);
    const text = JSON.stringify(scrubbed ?? null);
    if (text !== row.data) await sql.run('UPDATE c360_timeline SET data = ? WHERE position = ?', [text, row.position]);
  }
}
