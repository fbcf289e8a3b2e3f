import { Injectable } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { CustomerStates, mergeFactsOf, streamCustomerOf, type CustomerKeyedState, type CustomerModel } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import type { ProjectedRecord } from '../projector/projected-record';
import type { Projection } from '../projector/projection';
import { MONEY_SCALE, toMoneyUnits } from '../customer-360/customer-360.state';
import { valueSegment } from '../customer-360/lifecycle';
import { addCounter, addToMeasure, addTotals, emptyTotals, isEmptyTotals, totalsJson, type BucketTotals } from './bucket-totals';
import { caseContribution, caseSlices, foldCase, isCaseRecord, type CaseFacts, type Contribution } from './case-facts';
import type { ExperienceMetricsTables } from './experience-metrics.schema';
import { binOf } from './quantile-bins';
import { ALL_DIMENSION, ALL_SLICE, DIMENSIONS, NO_VALUE, type SliceValues } from './slices';
import { BucketNamer, GRANULARITIES } from './time-buckets';

/** What the value segment of a customer needs, per customer id (merges followed by the kit). */
export interface SegmentState extends CustomerKeyedState {
  purchases: number;
  netUnits: number;
}

export const segmentModel: CustomerModel<SegmentState> = {
  empty: (customerId) => ({ customerId, mergedInto: null, lastPosition: 0, purchases: 0, netUnits: 0 }),
  absorb(survivor, merged) {
    survivor.purchases += merged.purchases;
    survivor.netUnits += merged.netUnits;
  },
};

const unitsOf = (amount: number): number => Number(toMoneyUnits(amount));

interface Batch {
  progress: number;
  customers: CustomerStates<SegmentState>;
  cases: Map<string, CaseFacts>;
  changedCases: Set<string>;
  /** row key -> what this batch adds to it */
  rows: Map<string, BucketTotals>;
  /** merges in log order: stored customers pointing at `from` point at `to` (no chains left, as the kit does in memory) */
  repoints: { from: string; to: string }[];
}

const ROW_KEY_SEPARATOR = '\u0000';
const PROGRESS_ID = 'folded';
const CHUNK = 500;

/**
 * The experience-metrics projection. Events add to pre-aggregated bucket rows (each event's
 * local day, week and month in the reporting time zone, unsliced and under each of its slices);
 * case events go through the case's facts first (case-facts.ts), and the case's contribution is
 * replaced, not added to. The value segment slice is the customer's segment when the event is
 * projected (net value of the purchases and refunds before it in the log, merged customers'
 * histories included).
 */
export function experienceMetricsProjection(timeZone: string) {
  @Injectable()
  @EventsHandler(ProjectedEvent)
  class ExperienceMetricsProjection implements IEventHandler<ProjectedEvent>, Projection<Batch, ExperienceMetricsTables> {
    readonly projectionName = 'experience-metrics';
    readonly namer = new BucketNamer(timeZone);

    async beginBatch(trx: Transaction<ExperienceMetricsTables>, records: readonly ProjectedRecord[]): Promise<Batch> {
      const progress = await trx.selectFrom('em_progress').select('last_position').where('id', '=', PROGRESS_ID).executeTakeFirst();
      const customerIds = new Set<string>();
      const caseIds = new Set<string>();
      for (const r of records) {
        const owner = streamCustomerOf(r);
        if (owner !== undefined) customerIds.add(owner);
        const merge = mergeFactsOf(r);
        if (merge) for (const id of [merge.survivorId, ...merge.mergedIds]) customerIds.add(id);
        if (isCaseRecord(r)) caseIds.add(r.data.caseId);
      }
      const customers = new CustomerStates(segmentModel);
      customers.preload(await loadCustomers(trx, [...customerIds]));
      const survivors = new Set<string>();
      for (const s of customers.all()) if (s.mergedInto !== null && !customers.has(s.mergedInto)) survivors.add(s.mergedInto);
      customers.preload(await loadCustomers(trx, [...survivors]));
      const cases = new Map<string, CaseFacts>();
      for (const part of chunks([...caseIds])) {
        const rows = await trx.selectFrom('em_cases').select(['case_id', 'facts']).where('case_id', 'in', part).execute();
        for (const row of rows) cases.set(row.case_id, JSON.parse(row.facts) as CaseFacts);
      }
      return { progress: Number(progress?.last_position ?? 0), customers, cases, changedCases: new Set(), rows: new Map(), repoints: [] };
    }

    async handle(event: ProjectedEvent): Promise<void> {
      const batch = event.batch.stateFor(this, event.record.position);
      if (batch && event.record.position > batch.progress) this.apply(batch, event.record);
    }

    private apply(batch: Batch, record: ProjectedRecord): void {
      const route = batch.customers.route(record);
      if (route.kind === 'merge')
        for (const from of route.absorbed) batch.repoints.push({ from: from.customerId, to: route.survivor.customerId });
      if (route.kind !== 'event') return;
      const owner = route.owner;
      const m = record.metadata;
      const segment = valueSegment(owner.purchases, owner.netUnits / MONEY_SCALE);
      const slices = { channel: m.channel ?? NO_VALUE, source: m.source, segment };
      if (isCaseRecord(record)) {
        const before = batch.cases.get(record.data.caseId);
        if (before && record.position <= before.lastPosition) return;
        if (before) this.add(batch, caseContribution(before), caseSlices(before), -1);
        const after = foldCase(before && structuredClone(before), record, slices);
        batch.cases.set(after.caseId, after);
        batch.changedCases.add(after.caseId);
        this.add(batch, caseContribution(after), caseSlices(after), 1);
        return;
      }
      const totals = emptyTotals();
      let category = NO_VALUE;
      switch (record.type) {
        case 'survey.answered': {
          const { nps, csat, ces } = record.data;
          if (nps !== undefined) addCounter(totals, nps >= 9 ? 'npsPromoters' : nps >= 7 ? 'npsPassives' : 'npsDetractors', 1);
          if (csat !== undefined) {
            addCounter(totals, 'csatResponses', 1);
            addCounter(totals, 'csatSum', csat);
            if (csat >= 4) addCounter(totals, 'csatSatisfied', 1);
          }
          if (ces !== undefined) {
            addCounter(totals, 'cesResponses', 1);
            addCounter(totals, 'cesSum', ces);
            if (ces >= 5) addCounter(totals, 'cesLowEffort', 1);
          }
          break;
        }
        case 'contact.handled': {
          const { handleSeconds, waitSeconds } = record.data;
          addCounter(totals, 'contacts', 1);
          addCounter(totals, 'handleSecondsSum', handleSeconds);
          addToMeasure(totals, 'handleSeconds', binOf(handleSeconds), 1);
          if (waitSeconds !== undefined) {
            addCounter(totals, 'waitContacts', 1);
            addCounter(totals, 'waitSecondsSum', waitSeconds);
            addToMeasure(totals, 'waitSeconds', binOf(waitSeconds), 1);
          }
          break;
        }
        case 'purchase.completed': {
          const units = unitsOf(record.data.amount);
          addCounter(totals, 'purchases', 1);
          addCounter(totals, 'purchaseUnits', units);
          owner.purchases++;
          owner.netUnits += units;
          break;
        }
        case 'refund.issued': {
          const units = unitsOf(record.data.amount);
          addCounter(totals, 'refunds', 1);
          addCounter(totals, 'refundUnits', units);
          owner.netUnits -= units;
          break;
        }
        case 'order.cancelled':
          addCounter(totals, 'cancellations', 1);
          break;
        case 'complaint.filed':
          addCounter(totals, 'complaints', 1);
          category = record.data.category;
          break;
        default:
          return; // other types add to no metric
      }
      this.add(batch, [{ at: m.occurredAt, totals }], { ...slices, agent: m.agentId ?? NO_VALUE, category }, 1);
    }

    /** Adds contributions to their rows: each instant's day, week and month, unsliced and per slice. */
    private add(batch: Batch, contributions: Contribution[], slices: SliceValues, sign: 1 | -1): void {
      for (const { at, totals } of contributions) {
        const buckets = this.namer.of(at);
        for (const granularity of GRANULARITIES) {
          const bucket = buckets[granularity];
          this.addRow(batch, granularity, ALL_DIMENSION, bucket, ALL_SLICE, totals, sign);
          for (const dimension of DIMENSIONS) this.addRow(batch, granularity, dimension, bucket, slices[dimension], totals, sign);
        }
      }
    }

    private addRow(
      batch: Batch,
      granularity: string,
      dimension: string,
      bucket: string,
      slice: string,
      totals: BucketTotals,
      sign: 1 | -1,
    ) {
      const key = [granularity, dimension, bucket, slice].join(ROW_KEY_SEPARATOR);
      let row = batch.rows.get(key);
      if (!row) batch.rows.set(key, (row = emptyTotals()));
      addTotals(row, totals, sign);
    }

    async commitBatch(trx: Transaction<ExperienceMetricsTables>, batch: Batch): Promise<void> {
      let last = batch.progress;
      for (const s of batch.customers.changedStates()) last = Math.max(last, s.lastPosition);
      for (const id of [...batch.changedCases].sort()) last = Math.max(last, batch.cases.get(id)!.lastPosition);
      await writeRows(trx, batch.rows);
      for (const id of [...batch.changedCases].sort()) {
        const facts = JSON.stringify(batch.cases.get(id));
        await trx
          .insertInto('em_cases')
          .values({ case_id: id, facts })
          .onConflict((oc) => oc.column('case_id').doUpdateSet({ facts }))
          .execute();
      }
      for (const { from, to } of batch.repoints) {
        await trx.updateTable('em_customers').set({ merged_into: to }).where('merged_into', '=', from).execute();
      }
      for (const s of batch.customers.changedStates()) {
        const row = { merged_into: s.mergedInto, last_position: s.lastPosition, purchases: s.purchases, net_units: s.netUnits };
        await trx
          .insertInto('em_customers')
          .values({ customer_id: s.customerId, ...row })
          .onConflict((oc) => oc.column('customer_id').doUpdateSet(row))
          .execute();
      }
      if (last > batch.progress) {
        await trx
          .insertInto('em_progress')
          .values({ id: PROGRESS_ID, last_position: last })
          .onConflict((oc) => oc.column('id').doUpdateSet({ last_position: last }))
          .execute();
      }
    }
  }
  return ExperienceMetricsProjection;
}

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
}

async function loadCustomers(trx: Transaction<ExperienceMetricsTables>, ids: string[]): Promise<SegmentState[]> {
  const out: SegmentState[] = [];
  for (const part of chunks(ids)) {
    const rows = await trx.selectFrom('em_customers').selectAll().where('customer_id', 'in', part).execute();
    for (const r of rows) {
      out.push({
        customerId: r.customer_id,
        mergedInto: r.merged_into,
        lastPosition: Number(r.last_position),
        purchases: Number(r.purchases),
        netUnits: Number(r.net_units),
      });
    }
  }
  return out;
}

/** Adds each changed row's totals to the stored ones (one read and one write per row, in key order); an emptied row is deleted. */
async function writeRows(trx: Transaction<ExperienceMetricsTables>, rows: Map<string, BucketTotals>): Promise<void> {
  for (const key of [...rows.keys()].sort()) {
    const delta = rows.get(key)!;
    if (isEmptyTotals(delta)) continue;
    const [granularity, dimension, bucket, slice] = key.split(ROW_KEY_SEPARATOR);
    const where = { granularity, dimension, bucket, slice };
    const stored = await trx
      .selectFrom('em_buckets')
      .select('totals')
      .where('granularity', '=', granularity)
      .where('dimension', '=', dimension)
      .where('bucket', '=', bucket)
      .where('slice', '=', slice)
      .executeTakeFirst();
    const totals = stored ? (JSON.parse(stored.totals) as BucketTotals) : emptyTotals();
    addTotals(totals, delta);
    if (isEmptyTotals(totals)) {
      if (stored) {
        await trx
          .deleteFrom('em_buckets')
          .where('granularity', '=', granularity)
          .where('dimension', '=', dimension)
          .where('bucket', '=', bucket)
          .where('slice', '=', slice)
          .execute();
      }
      continue;
    }
    const json = totalsJson(totals);
    await trx
      .insertInto('em_buckets')
      .values({ ...where, totals: json })
      .onConflict((oc) => oc.columns(['granularity', 'dimension', 'bucket', 'slice']).doUpdateSet({ totals: json }))
      .execute();
  }
}
