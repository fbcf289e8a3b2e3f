import { Inject, Injectable, Optional } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { CustomerStates, customersTouchedBy, mergeFactsOf, unmergeFactsOf } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import { unhandledType, type ProjectedRecord } from '../projector/projected-record';
import { PROJECTION_CONTEXT, type Projection, type ProjectionContext } from '../projector/projection';
import type { DirectSql } from '../store/direct-sql';
import { utcInstant } from '../milestones/milestones.model';
import { evolveSegmentCustomer, segmentCustomerModel, type SegmentCustomerState } from './segments.model';
import { SEGMENTS, type SegmentsTables, type SgChangesTable, type SgSegmentsTable } from './segments.schema';

/** rows per statement: well under SQLite's and PostgreSQL's bound-parameter limits */
const CHUNK = 500;

interface SegmentsBatch {
  customers: CustomerStates<SegmentCustomerState>;
  segments: Map<string, SgSegmentsTable>;
  changes: SgChangesTable[];
  /** `segmentId\u0000day` -> [entered, exited] */
  daily: Map<string, [number, number]>;
}

const isDefinitionEvent = (r: ProjectedRecord): r is ProjectedRecord<'segment.created' | 'segment.changed' | 'segment.archived'> =>
  r.type === 'segment.created' || r.type === 'segment.changed' || r.type === 'segment.archived';

const chunks = <T>(items: readonly T[], size = CHUNK): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * The segments read model: the definitions (segment.created / changed / archived, each version
 * kept) and, on the customer-keyed kit, each customer's facts and memberships. Membership is what
 * the segment.entered / segment.left events in the log say (the scheduled evaluation,
 * segments.job.ts, appends them): the projection never reads the clock, so a rebuild from 0 ends
 * with the same members, and the evaluation then finds nothing to announce again.
 */
@Injectable()
@EventsHandler(ProjectedEvent)
export class SegmentsProjection implements IEventHandler<ProjectedEvent>, Projection<SegmentsBatch, SegmentsTables> {
  readonly projectionName = SEGMENTS;

  constructor(@Optional() @Inject(PROJECTION_CONTEXT) private readonly context?: ProjectionContext) {}

  async beginBatch(trx: Transaction<SegmentsTables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<SegmentsBatch> {
    const customers = new CustomerStates(segmentCustomerModel);
    await customers.preloadWithSurvivors(customersTouchedBy(records), (ids) => loadStates(sql, ids));
    await customers.preloadHistories(records, this.context?.history);
    const ids = [...new Set(records.filter(isDefinitionEvent).map((r) => r.data.segmentId))];
    const segments = new Map<string, SgSegmentsTable>();
    for (const part of chunks(ids))
      for (const row of await trx.selectFrom('sg_segments').selectAll().where('segment_id', 'in', part).execute())
        segments.set(row.segment_id, row);
    return { customers, segments, changes: [], daily: new Map() };
  }

  async handle(event: ProjectedEvent): Promise<void> {
    const batch = event.batch.stateFor(this, event.record.position);
    if (!batch) return;
    const record = event.record;
    if (isDefinitionEvent(record)) return this.define(batch, record);
    const merge = mergeFactsOf(record);
    // a merge: the survivor holds the memberships of both from now on (counted once per segment)
    const parties = merge
      ? [...new Set([merge.survivorId, ...merge.mergedIds].map((id) => batch.customers.canonical(id)))].map((id) => batch.customers.get(id))
      : [];
    const before = merge ? memberCounts(parties) : undefined;
    // an unmerge: the kit refolds the survivor, the customer split off and those following it again
    const unmerge = unmergeFactsOf(record);
    const unmergeParties = unmerge ? [unmerge.survivorId, unmerge.splitId, ...unmerge.restoredIds] : [];
    const beforeUnmerge = unmerge ? memberCounts(unmergeParties.map((id) => batch.customers.get(id))) : undefined;
    const route = batch.customers.route(record);
    switch (route.kind) {
      case 'skip':
        return;
      case 'unmerge': {
        // the size trend follows, on the day of the unmerge: e.g. both in a segment again counts one entry
        const after = memberCounts(unmergeParties.map((id) => batch.customers.get(id)));
        const day = utcInstant(route.unmerge.at).slice(0, 10);
        for (const id of new Set([...beforeUnmerge!.keys(), ...after.keys()])) {
          const delta = (after.get(id) ?? 0) - (beforeUnmerge!.get(id) ?? 0);
          if (delta > 0) addDaily(batch, id, day, delta, 0);
          if (delta < 0) addDaily(batch, id, day, 0, -delta);
        }
        return;
      }
      case 'merge': {
        const after = memberCounts([route.survivor]);
        const mergedAt = utcInstant(route.merge.at);
        for (const id of new Set([...before!.keys(), ...after.keys()])) {
          const delta = (after.get(id) ?? 0) - (before!.get(id) ?? 0);
          // entries are dated by their evaluation, a merge by when it happened: a merge dated before
          // the entries it folds (a late or back-dated merge) counts on the day of the latest of them
          const sinces = [route.survivor, ...route.absorbed].map((st) => st.memberships[id]?.since ?? '');
          const day = [mergedAt, ...sinces].sort().pop()!.slice(0, 10);
          if (delta > 0) addDaily(batch, id, day, delta, 0);
          if (delta < 0) addDaily(batch, id, day, 0, -delta);
        }
        return;
      }
      case 'event': {
        const owner = route.owner;
        if (record.type === 'segment.entered' || record.type === 'segment.left') {
          const id = record.data.segmentId;
          const was = owner.memberships[id]?.member === true;
          evolveSegmentCustomer(owner, record);
          const is = owner.memberships[id]?.member === true;
          const day = utcInstant(record.data.asOf).slice(0, 10);
          if (!was && is) addDaily(batch, id, day, 1, 0);
          if (was && !is) addDaily(batch, id, day, 0, 1);
          return;
        }
        evolveSegmentCustomer(owner, record);
        return;
      }
      default:
        unhandledType(route);
    }
  }

  private define(batch: SegmentsBatch, record: ProjectedRecord<'segment.created' | 'segment.changed' | 'segment.archived'>): void {
    const { segmentId, version, changedBy } = record.data;
    const current = batch.segments.get(segmentId);
    if (current && (version <= current.version || record.position <= current.last_position)) return;
    const at = utcInstant(record.metadata.occurredAt);
    const archived = record.type === 'segment.archived';
    const definition = archived
      ? (current?.definition ?? '{}')
      : JSON.stringify((record as ProjectedRecord<'segment.created'>).data.segment);
    batch.segments.set(segmentId, {
      segment_id: segmentId,
      version,
      definition,
      archived: archived ? 1 : 0,
      created_at: current?.created_at ?? at,
      updated_at: at,
      changed_by: changedBy,
      last_position: record.position,
    });
    batch.changes.push({
      segment_id: segmentId,
      version,
      kind: record.type.slice('segment.'.length),
      position: record.position,
      occurred_at: at,
      changed_by: changedBy,
      definition: archived ? null : definition,
    });
  }

  async commitBatch(trx: Transaction<SegmentsTables>, batch: SegmentsBatch, sql: DirectSql): Promise<void> {
    if (batch.changes.length > 0) {
      await trx
        .insertInto('sg_changes')
        .values(batch.changes)
        .onConflict((oc) => oc.columns(['segment_id', 'version']).doNothing())
        .execute();
      const rows = [...batch.segments.values()].sort((a, b) => (a.segment_id < b.segment_id ? -1 : 1));
      await trx
        .insertInto('sg_segments')
        .values(rows)
        .onConflict((oc) =>
          oc.column('segment_id').doUpdateSet((eb) => ({
            version: eb.ref('excluded.version'),
            definition: eb.ref('excluded.definition'),
            archived: eb.ref('excluded.archived'),
            updated_at: eb.ref('excluded.updated_at'),
            changed_by: eb.ref('excluded.changed_by'),
            last_position: eb.ref('excluded.last_position'),
          })),
        )
        .execute();
    }
    const changed = batch.customers.changedStates();
    if (changed.length > 0) {
      await sql.upsert(
        {
          table: 'sg_customers',
          columns: ['customer_id', 'merged_into', 'last_position', 'doc'],
          conflict: ['customer_id'],
          update: ['merged_into', 'last_position', 'doc'],
        },
        changed.map((s) => [s.customerId, s.mergedInto, s.lastPosition, JSON.stringify(s)]),
      );
      // members and consents are rewritten whole for each changed customer; merged-away customers have none
      for (const part of chunks(changed)) {
        const ids = part.map((s) => s.customerId);
        await trx.deleteFrom('sg_members').where('customer_id', 'in', ids).execute();
        await trx.deleteFrom('sg_consents').where('customer_id', 'in', ids).execute();
      }
      const members: (string | number)[][] = [];
      const consents: (string | number)[][] = [];
      for (const s of changed) {
        if (s.mergedInto !== null) continue;
        for (const [segmentId, m] of Object.entries(s.memberships))
          if (m.member) members.push([segmentId, s.customerId, m.since!, m.version, m.activated ? 1 : 0]);
        for (const [purpose, c] of Object.entries(s.consents)) consents.push([s.customerId, purpose, c.value ? 1 : 0]);
      }
      const upsert = (table: string, columns: string[], conflict: string[]) => ({ table, columns, conflict, update: 'nothing' as const });
      if (members.length > 0)
        await sql.upsert(
          upsert('sg_members', ['segment_id', 'customer_id', 'since', 'version', 'activated'], ['segment_id', 'customer_id']),
          members,
        );
      if (consents.length > 0)
        await sql.upsert(upsert('sg_consents', ['customer_id', 'purpose', 'granted'], ['customer_id', 'purpose']), consents);
    }
    if (batch.daily.size > 0) {
      const rows = [...batch.daily.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, [entered, exited]]) => [...key.split('\u0000'), entered, exited]);
      await sql.upsert(
        {
          table: 'sg_daily',
          columns: ['segment_id', 'day', 'entered', 'exited'],
          conflict: ['segment_id', 'day'],
          update: [
            ['entered', 'sg_daily.entered + excluded.entered'],
            ['exited', 'sg_daily.exited + excluded.exited'],
          ],
        },
        rows,
      );
    }
  }
}

function addDaily(batch: SegmentsBatch, segmentId: string, day: string, entered: number, exited: number): void {
  const key = `${segmentId}\u0000${day}`;
  const d = batch.daily.get(key) ?? [0, 0];
  d[0] += entered;
  d[1] += exited;
  batch.daily.set(key, d);
}

/** Live members per segment among these customers. */
function memberCounts(states: readonly SegmentCustomerState[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of states) {
    if (s.mergedInto !== null) continue;
    for (const [id, m] of Object.entries(s.memberships)) if (m.member) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function loadStates(sql: DirectSql, ids: string[]): Promise<SegmentCustomerState[]> {
  if (ids.length === 0) return [];
  const rows = await sql.selectByKeys<{ doc: string }>('sg_customers', ['doc'], 'customer_id', ids);
  return rows.map((row) => JSON.parse(row.doc) as SegmentCustomerState);
}
