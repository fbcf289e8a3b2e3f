import { Inject, Injectable, Optional } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import {
  CustomerStates,
  mergeFactsOf,
  replayWithoutMerges,
  streamCustomerOf,
  unmergeFactsOf,
  type CustomerKeyedState,
  type CustomerModel,
  type CustomerRoute,
  type UnmergeFacts,
} from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import type { ProjectedRecord } from '../projector/projected-record';
import { PROJECTION_CONTEXT, type Projection, type ProjectionContext } from '../projector/projection';
import type { BulkUpsert, DirectSql, SqlValue } from '../store/direct-sql';
import { MONEY_SCALE, toMoneyUnits } from '../customer-360/customer-360.state';
import { valueSegment } from '../customer-360/lifecycle';
import {
  addCounter,
  addListed,
  addToMeasure,
  addTotals,
  emptyTotals,
  isEmptyTotals,
  listTotals,
  totalsJson,
  type BucketTotals,
  type ListedTotals,
} from './bucket-totals';
import { caseContribution, caseSlices, foldCase, isCaseRecord, type CaseFacts, type Contribution } from './case-facts';
import type { ExperienceMetricsTables } from './experience-metrics.schema';
import { binOf } from './quantile-bins';
import { addContacts, type ReasonedContact } from './repeat-contacts';
import { churnFactsModel } from '../churn-risk/churn-facts';
import {
  foldLifecycle,
  lifecycleChangesOf,
  lifecycleContribution,
  lifecycleJson,
  storedChanges,
  type LifecycleChange,
  lifecycleOf,
  noLifecycleContribution,
  type LifecycleFacts,
} from './customer-lifecycle';
import {
  absorbSegmentSpans,
  foldSegmentChange,
  hasSpans,
  isSegmentChange,
  segmentsAt,
  type MembershipSpans,
} from '../segments/membership-spans';
import {
  ALL_DIMENSION,
  ALL_SLICE,
  DIMENSION_PAIRS,
  NO_VALUE,
  pairName,
  pairSlice,
  SEGMENT_ID,
  VALUE_DIMENSIONS,
  type SliceValues,
} from './slices';
import { BucketNamer, GRANULARITIES } from './time-buckets';

/** What the value segment of a customer needs, per customer id (merges followed by the kit). */
export interface SegmentState extends CustomerKeyedState {
  purchases: number;
  netUnits: number;
  /** earliest occurredAt of the customer's events; combined on a merge by the projection, which also moves the customer counts */
  firstSeen: string | null;
  /** what the customer's lifecycle stage is decided on (customer-lifecycle.ts) */
  lifecycle: LifecycleFacts;
  /** its live changes as last stored (what it contributes to the rows now) */
  lifecycleChanges: LifecycleChange[];
  /** its membership spans in the analyst segments, from segment.entered / segment.left (the `segmentId` slice) */
  segmentSpans: MembershipSpans;
}

export const segmentModel: CustomerModel<SegmentState> = {
  empty: (customerId) => ({
    customerId,
    mergedInto: null,
    lastPosition: 0,
    purchases: 0,
    netUnits: 0,
    firstSeen: null,
    lifecycle: lifecycleOf(customerId, null),
    lifecycleChanges: [],
    segmentSpans: {},
  }),
  absorb(survivor, merged, merge) {
    survivor.purchases += merged.purchases;
    survivor.netUnits += merged.netUnits;
    churnFactsModel.absorb(survivor.lifecycle, merged.lifecycle, merge);
    // the merged-away customer's lifecycle is the survivor's now: it stops counting on its own
    merged.lifecycle = lifecycleOf(merged.customerId, null);
    // in a segment at an instant when either was (the segments read model's rule)
    absorbSegmentSpans(survivor.segmentSpans, merged.segmentSpans);
  },
};

const unitsOf = (amount: number): number => Number(toMoneyUnits(amount));

interface Batch {
  progress: number;
  customers: CustomerStates<SegmentState>;
  cases: Map<string, CaseFacts>;
  changedCases: Set<string>;
  /** row key -> what this batch (and the earlier batches of its transaction, see Carried) adds to it */
  rows: Map<string, BucketTotals>;
  /** merges in log order: stored customers pointing at `from` point at `to` (no chains left, as the kit does in memory) */
  repoints: { from: string; to: string }[];
  /** em_contact_customers rows this batch (and the earlier ones of its transaction) adds: by customer id, then by the totals row key */
  contactCustomers: ContactCustomers;
  /** contacts with a reason per live customer id (loaded for the batch's customers; merged-away ones emptied) */
  contactHistories: Map<string, ReasonedContact[]>;
  changedHistories: Set<string>;
  /** each loaded customer's lifecycle changes before the batch (their contribution is taken away at commit, the new one added) */
  lifecycleBefore: Map<string, readonly LifecycleChange[]>;
  /** em_contact_customers rows an unmerge took back (row keys), deleted at commit before this batch's rows are added */
  contactDeletes: Set<string>;
}

/** customer id -> totals row key -> the em_contact_customers row [granularity, dimension, bucket, slice, customer id] */
type ContactCustomers = Map<string, Map<string, SqlValue[]>>;

/**
 * What the batches of one transaction add to the bucket rows and the contacting customers, written
 * once when the transaction commits (Projection.beforeCommit) instead of once per batch: catching up,
 * a transaction spans up to 20 batches, and the same day, week and month rows come back in each.
 */
interface Carried {
  trx: Transaction<any>;
  rows: Map<string, BucketTotals>;
  contactCustomers: ContactCustomers;
}
/** carried rows and contacts beyond which a batch writes them at once (memory stays bounded whatever the transaction spans) */
const MAX_CARRIED = 100_000;

/** `granularity|dimension|bucket|slice`: only the slice (last) may hold the separator */
const ROW_KEY_SEPARATOR = '|';
const rowKey = (granularity: string, dimension: string, bucket: string, slice: string): string =>
  `${granularity}${ROW_KEY_SEPARATOR}${dimension}${ROW_KEY_SEPARATOR}${bucket}${ROW_KEY_SEPARATOR}${slice}`;
/** each supported pair of dimensions with the event's slice of it */
const pairSlicesOf = (slices: SliceValues): [dimension: string, slice: string][] =>
  DIMENSION_PAIRS.map((pair) => [pairName(pair), pairSlice([slices[pair[0]], slices[pair[1]]])]);
const rowKeyParts = (key: string): string[] => {
  const parts = key.split(ROW_KEY_SEPARATOR);
  return [...parts.slice(0, 3), parts.slice(3).join(ROW_KEY_SEPARATOR)];
};
const PROGRESS_ID = 'folded';
const ONE_CUSTOMER = listTotals({ c: { customersFirstSeen: 1 }, h: {} });
const ONE_REPEAT: BucketTotals = { c: { repeatContacts: 1 }, h: {} };
const NO_SEGMENTS: readonly string[] = Object.freeze([]);

/**
 * The experience-metrics projection. Events add to pre-aggregated bucket rows (each event's
 * local day, week and month in the reporting time zone, unsliced and under each of its slices);
 * case events go through the case's facts first (case-facts.ts), and the case's contribution is
 * replaced, not added to. The value segment slice is the customer's segment when the event is
 * projected (net value of the purchases and refunds before it in the log, merged customers'
 * histories included). Besides the rows: each customer's earliest event (customers known, counted
 * in its bucket and moved by late events and merges), the customer ids contacting per bucket and
 * slice (distinct customers, counted by the query after merges), and each customer's contacts with
 * a reason (repeat-contacts.ts), merged histories judged as one.
 */
export function experienceMetricsProjection(timeZone: string, repeatContactWindowDays: number) {
  const repeatWindowMs = repeatContactWindowDays * 86_400_000;
  @Injectable()
  @EventsHandler(ProjectedEvent)
  class ExperienceMetricsProjection implements IEventHandler<ProjectedEvent>, Projection<Batch, ExperienceMetricsTables> {
    readonly projectionName = 'experience-metrics';
    readonly namer = new BucketNamer(timeZone);
    private carried?: Carried;

    constructor(@Optional() @Inject(PROJECTION_CONTEXT) readonly context?: ProjectionContext) {}

    /** what earlier batches of `trx` carried; a carry of another transaction (rolled back) is dropped */
    private carriedFor(trx: Transaction<any>): Carried {
      if (this.carried?.trx !== trx) this.carried = { trx, rows: new Map(), contactCustomers: new Map() };
      return this.carried;
    }

    async beginBatch(trx: Transaction<ExperienceMetricsTables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<Batch> {
      const [progress] = await sql.all<{ last_position: number }>('SELECT last_position FROM em_progress WHERE id = ?', [PROGRESS_ID]);
      const customerIds = new Set<string>();
      const caseIds = new Set<string>();
      for (const r of records) {
        const owner = streamCustomerOf(r);
        if (owner !== undefined) customerIds.add(owner);
        const merge = mergeFactsOf(r);
        if (merge) for (const id of [merge.survivorId, ...merge.mergedIds]) customerIds.add(id);
        // an unmerge changes its customers' states (the kit un-points the split customer): they must be loaded, not started empty
        const unmerge = unmergeFactsOf(r);
        if (unmerge) for (const id of [unmerge.survivorId, unmerge.splitId, ...unmerge.restoredIds]) customerIds.add(id);
        if (isCaseRecord(r)) caseIds.add(r.data.caseId);
      }
      const customers = new CustomerStates(segmentModel);
      customers.preload(await loadCustomers(sql, [...customerIds]));
      const survivors = new Set<string>();
      for (const s of customers.all()) if (s.mergedInto !== null && !customers.has(s.mergedInto)) survivors.add(s.mergedInto);
      customers.preload(await loadCustomers(sql, [...survivors]));
      const lifecycleBefore = new Map<string, readonly LifecycleChange[]>();
      for (const s of customers.all()) if (s.lifecycleChanges.length > 0) lifecycleBefore.set(s.customerId, s.lifecycleChanges);
      const contactHistories = new Map<string, ReasonedContact[]>();
      const historyIds = [...customers.all()].map((s) => s.customerId);
      for (const row of await sql.selectByKeys<{ customer_id: string; contacts: string }>(
        'em_contact_history',
        ['customer_id', 'contacts'],
        'customer_id',
        historyIds,
      )) {
        contactHistories.set(row.customer_id, JSON.parse(row.contacts) as ReasonedContact[]);
      }
      const cases = new Map<string, CaseFacts>();
      for (const row of await sql.selectByKeys<{ case_id: string; facts: string }>('em_cases', ['case_id', 'facts'], 'case_id', [
        ...caseIds,
      ])) {
        cases.set(row.case_id, JSON.parse(row.facts) as CaseFacts);
      }
      // an unmerge refolds its customers from their log before it
      await customers.preloadHistories(records, this.context?.history);
      const carried = this.carriedFor(trx);
      return {
        progress: Number(progress?.last_position ?? 0),
        customers,
        cases,
        changedCases: new Set(),
        rows: carried.rows,
        repoints: [],
        contactCustomers: carried.contactCustomers,
        contactHistories,
        changedHistories: new Set(),
        lifecycleBefore,
        contactDeletes: new Set(),
      };
    }

    async handle(event: ProjectedEvent): Promise<void> {
      const batch = event.batch.stateFor(this, event.record.position);
      if (batch && event.record.position > batch.progress) this.apply(batch, event.record);
    }

    private apply(batch: Batch, record: ProjectedRecord): void {
      const unmerge = unmergeFactsOf(record);
      if (unmerge) return this.unmerge(batch, unmerge, record);
      this.applyRoute(batch, batch.customers.route(record), record);
    }

    /**
     * An unmerge: what the survivor's log before it contributes is taken away as it was folded (every
     * earlier unmerge applied) and added again as if the undone merge had never happened (the split
     * customer's events and those re-attributed to it are its own again): every row, the customers
     * counted, the contacting customers, the repeat contacts, the cases, the lifecycle (at commit)
     * and the states of the survivor, the customer split off and those following it again. Scoped to
     * their log, and the same live and in a rebuild (both fold the same log here).
     */
    private unmerge(batch: Batch, unmerge: UnmergeFacts, record: ProjectedRecord): void {
      if (unmerge.position <= batch.customers.get(unmerge.survivorId).lastPosition) return; // already applied
      const history = batch.customers.historyBefore(unmerge.position);
      if (!history) throw new Error(`the history before unmerge ${unmerge.position} was not preloaded (preloadHistories)`);
      const asFolded = this.replay(history);
      const asIf = this.replay([...history, record]);
      for (const [sandbox, sign] of [
        [asFolded, -1],
        [asIf, 1],
      ] as const)
        for (const [key, totals] of sandbox.rows) {
          let row = batch.rows.get(key);
          if (!row) batch.rows.set(key, (row = emptyTotals()));
          addTotals(row, totals, sign);
        }
      const ids = new Set([unmerge.survivorId, unmerge.splitId, ...unmerge.restoredIds]);
      for (const id of ids) {
        for (const row of asFolded.contactCustomers.get(id)?.values() ?? []) batch.contactDeletes.add(JSON.stringify(row));
        batch.contactCustomers.delete(id);
        const asIfRows = asIf.contactCustomers.get(id);
        if (asIfRows) batch.contactCustomers.set(id, asIfRows);
      }
      for (const [caseId, facts] of asIf.cases) {
        batch.cases.set(caseId, facts);
        batch.changedCases.add(caseId);
      }
      for (const id of ids) {
        const state = asIf.customers.get(id);
        state.lastPosition = Math.max(state.lastPosition, unmerge.position);
        batch.customers.preload([state]);
        batch.customers.markChanged(id);
        batch.contactHistories.set(id, asIf.contactHistories.get(id) ?? []);
        batch.changedHistories.add(id);
      }
    }

    /** Folds a customer's log into an empty batch, unmerges applied as if their merges never happened (replayWithoutMerges). */
    private replay(log: readonly ProjectedRecord[]): Batch {
      const sandbox: Batch = {
        progress: 0,
        customers: new CustomerStates(segmentModel),
        cases: new Map(),
        changedCases: new Set(),
        rows: new Map(),
        repoints: [],
        contactCustomers: new Map(),
        contactHistories: new Map(),
        changedHistories: new Set(),
        lifecycleBefore: new Map(),
        contactDeletes: new Set(),
      };
      replayWithoutMerges(sandbox.customers, log, (route, r) => this.applyRoute(sandbox, route, r));
      return sandbox;
    }

    private applyRoute(batch: Batch, route: CustomerRoute<SegmentState>, record: ProjectedRecord): void {
      if (route.kind === 'merge')
        for (const from of route.absorbed) {
          batch.repoints.push({ from: from.customerId, to: route.survivor.customerId });
          // two customers become one: `from` stops counting, the survivor counts from the earlier first event
          if (from.firstSeen !== null) {
            this.countCustomer(batch, from.firstSeen, -1);
            this.seeCustomer(batch, route.survivor, from.firstSeen);
          }
          const moved = batch.contactHistories.get(from.customerId);
          if (moved?.length) {
            batch.contactHistories.set(from.customerId, []);
            batch.changedHistories.add(from.customerId);
            this.addReasonedContacts(batch, route.survivor.customerId, moved);
          }
        }
      if (route.kind !== 'event') return;
      const owner = route.owner;
      const m = record.metadata;
      foldLifecycle(owner.lifecycle, record);
      this.seeCustomer(batch, owner, m.occurredAt);
      if (isSegmentChange(record)) {
        foldSegmentChange(owner.segmentSpans, record);
        return;
      }
      const segment = valueSegment(owner.purchases, owner.netUnits / MONEY_SCALE);
      // the analyst segments the customer was in at the event's occurredAt, as the log has said so far
      const segmentIds = hasSpans(owner.segmentSpans) ? segmentsAt(owner.segmentSpans, Date.parse(m.occurredAt)) : NO_SEGMENTS;
      const slices = { channel: m.channel ?? NO_VALUE, source: m.source, segment, segmentIds };
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
          const { handleSeconds, waitSeconds, reason } = record.data;
          const contactSlices = { ...slices, agent: m.agentId ?? NO_VALUE, category };
          this.addContactingCustomer(batch, m.occurredAt, owner.customerId, contactSlices);
          addCounter(totals, 'contacts', 1);
          if (reason !== undefined && reason !== '') {
            addCounter(totals, 'contactsWithReason', 1);
            const contact = { occurredAt: m.occurredAt, position: record.position, reason, slices: contactSlices, repeat: false };
            this.addReasonedContacts(batch, owner.customerId, [contact]);
          }
          addToMeasure(totals, 'contactChannels', slices.channel, 1);
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

    /** Adds contributions to their rows: each instant's day, week and month, unsliced, per slice and per pair of slices. */
    private add(batch: Batch, contributions: Contribution[], slices: SliceValues, sign: 1 | -1): void {
      if (contributions.length === 0) return;
      const pairs = pairSlicesOf(slices);
      for (const contribution of contributions) {
        const totals = listTotals(contribution.totals);
        const buckets = this.namer.of(contribution.at);
        for (const granularity of GRANULARITIES) {
          const bucket = buckets[granularity];
          this.addRow(batch, granularity, ALL_DIMENSION, bucket, ALL_SLICE, totals, sign);
          for (const dimension of VALUE_DIMENSIONS) this.addRow(batch, granularity, dimension, bucket, slices[dimension], totals, sign);
          for (const segmentId of slices.segmentIds) this.addRow(batch, granularity, SEGMENT_ID, bucket, segmentId, totals, sign);
          for (const [dimension, slice] of pairs) this.addRow(batch, granularity, dimension, bucket, slice, totals, sign);
        }
      }
    }

    /** Adds contacts to the customer's history; each contact that became a repeat is counted in its own bucket and slices. */
    private addReasonedContacts(batch: Batch, customerId: string, contacts: ReasonedContact[]): void {
      let history = batch.contactHistories.get(customerId);
      if (!history) batch.contactHistories.set(customerId, (history = []));
      batch.changedHistories.add(customerId);
      for (const repeat of addContacts(history, contacts, repeatWindowMs))
        this.add(batch, [{ at: repeat.occurredAt, totals: ONE_REPEAT }], repeat.slices, 1);
    }

    /** A customer is counted in the bucket of its earliest event: a late earlier event moves it there. */
    private seeCustomer(batch: Batch, customer: SegmentState, at: string): void {
      if (customer.firstSeen !== null && Date.parse(customer.firstSeen) <= Date.parse(at)) return;
      if (customer.firstSeen !== null) this.countCustomer(batch, customer.firstSeen, -1);
      this.countCustomer(batch, at, 1);
      customer.firstSeen = at;
    }

    private countCustomer(batch: Batch, at: string, sign: 1 | -1): void {
      const buckets = this.namer.of(at);
      for (const granularity of GRANULARITIES)
        this.addRow(batch, granularity, ALL_DIMENSION, buckets[granularity], ALL_SLICE, ONE_CUSTOMER, sign);
    }

    /** Notes that the customer contacted in each bucket of `at`: unsliced, under each slice and each pair of slices (the query counts distinct customers). */
    private addContactingCustomer(batch: Batch, at: string, customerId: string, slices: SliceValues): void {
      const buckets = this.namer.of(at);
      let rows = batch.contactCustomers.get(customerId);
      if (!rows) batch.contactCustomers.set(customerId, (rows = new Map()));
      const note = (granularity: string, dimension: string, bucket: string, slice: string) => {
        const key = rowKey(granularity, dimension, bucket, slice);
        if (rows.has(key)) return;
        rows.set(key, [granularity, dimension, bucket, slice, customerId]);
      };
      const pairs = pairSlicesOf(slices);
      for (const granularity of GRANULARITIES) {
        const bucket = buckets[granularity];
        note(granularity, ALL_DIMENSION, bucket, ALL_SLICE);
        for (const dimension of VALUE_DIMENSIONS) note(granularity, dimension, bucket, slices[dimension]);
        for (const segmentId of slices.segmentIds) note(granularity, SEGMENT_ID, bucket, segmentId);
        for (const [dimension, slice] of pairs) note(granularity, dimension, bucket, slice);
      }
    }

    private addRow(
      batch: Batch,
      granularity: string,
      dimension: string,
      bucket: string,
      slice: string,
      totals: ListedTotals,
      sign: 1 | -1,
    ) {
      const key = rowKey(granularity, dimension, bucket, slice);
      let row = batch.rows.get(key);
      if (!row) batch.rows.set(key, (row = emptyTotals()));
      addListed(row, totals, sign);
    }

    /** Replaces each changed customer's lifecycle contribution: the old one taken away, the new one added; pending churns kept beside the rows. */
    private async replaceLifecycles(batch: Batch, sql: DirectSql): Promise<void> {
      const pendingWrites: SqlValue[][] = [];
      for (const s of batch.customers.changedStates()) {
        const changesBefore = batch.lifecycleBefore.get(s.customerId) ?? [];
        s.lifecycleChanges = s.mergedInto === null ? lifecycleChangesOf(s.lifecycle) : [];
        // the same changes make the same contribution and the same pending churn: nothing to take away,
        // add or write (most events of a live customer change no live start or end)
        if (sameChanges(changesBefore, s.lifecycleChanges)) continue;
        const before = changesBefore.length > 0 ? lifecycleContribution(changesBefore, this.namer) : noLifecycleContribution();
        const after = lifecycleContribution(s.lifecycleChanges, this.namer);
        for (const [contribution, sign] of [
          [before, -1],
          [after, 1],
        ] as const)
          for (const [key, totals] of contribution.rows) {
            const [granularity, bucket] = key.split('|');
            this.addRow(batch, granularity, ALL_DIMENSION, bucket, ALL_SLICE, listTotals(totals), sign);
          }
        const p = after.pending;
        if (p)
          pendingWrites.push([
            s.customerId,
            new Date(p.at).toISOString(),
            p.buckets.day,
            p.buckets.week,
            p.buckets.month,
            p.churned.day,
            p.lost.day,
            p.churned.week,
            p.lost.week,
            p.churned.month,
            p.lost.month,
          ]);
        else if (before.pending) await sql.run('DELETE FROM em_lifecycle_pending WHERE customer_id = ?', [s.customerId]);
      }
      await sql.upsert(PENDING_CHURNS, pendingWrites);
    }

    /** writes the bucket rows and contacting customers the transaction's batches carried */
    async beforeCommit(trx: Transaction<ExperienceMetricsTables>, sql: DirectSql): Promise<void> {
      if (this.carried?.trx === trx) await this.writeCarried(sql);
      this.carried = undefined;
    }

    private async writeCarried(sql: DirectSql): Promise<void> {
      const carried = this.carried!;
      await writeRows(sql, carried.rows);
      await writeContactCustomers(sql, carried.contactCustomers);
      carried.rows.clear();
      carried.contactCustomers.clear();
    }

    async commitBatch(_trx: Transaction<ExperienceMetricsTables>, batch: Batch, sql: DirectSql): Promise<void> {
      await this.replaceLifecycles(batch, sql);
      let last = batch.progress;
      for (const s of batch.customers.changedStates()) last = Math.max(last, s.lastPosition);
      const caseIds = [...batch.changedCases].sort();
      for (const id of caseIds) last = Math.max(last, batch.cases.get(id)!.lastPosition);
      // an unmerge took these back: gone before the transaction's carried rows are written (the parties' carried ones were replaced in memory)
      for (const key of [...batch.contactDeletes].sort()) await sql.run('DELETE FROM em_contact_customers WHERE row_key = ?', [key]);
      const carried = this.carried!;
      let contacts = 0;
      for (const rows of carried.contactCustomers.values()) contacts += rows.size;
      if (carried.rows.size + contacts > MAX_CARRIED) await this.writeCarried(sql);
      await sql.upsert(
        CASES,
        caseIds.map((id) => [id, JSON.stringify(batch.cases.get(id))]),
      );
      const historyIds = [...batch.changedHistories].sort();
      const histories = historyIds.filter((id) => batch.contactHistories.get(id)!.length > 0);
      await sql.upsert(
        CONTACT_HISTORY,
        histories.map((id) => [id, JSON.stringify(batch.contactHistories.get(id))]),
      );
      for (const id of historyIds)
        if (batch.contactHistories.get(id)!.length === 0) await sql.run('DELETE FROM em_contact_history WHERE customer_id = ?', [id]);
      for (const { from, to } of batch.repoints) await sql.run('UPDATE em_customers SET merged_into = ? WHERE merged_into = ?', [to, from]);
      await sql.upsert(
        CUSTOMERS,
        batch.customers
          .changedStates()
          .map((s) => [
            s.customerId,
            s.mergedInto,
            s.lastPosition,
            s.purchases,
            s.netUnits,
            s.firstSeen,
            lifecycleJson(s.lifecycle, s.lifecycleChanges),
            hasSpans(s.segmentSpans) ? JSON.stringify(s.segmentSpans) : null,
          ]),
      );
      if (last > batch.progress) await sql.upsert(PROGRESS, [[PROGRESS_ID, last]]);
    }
  }
  return ExperienceMetricsProjection;
}

const TOTALS: BulkUpsert = {
  table: 'em_totals',
  columns: ['row_key', 'granularity', 'dimension', 'bucket', 'slice', 'totals'],
  conflict: ['row_key'],
  update: ['totals'],
};
const CASES: BulkUpsert = { table: 'em_cases', columns: ['case_id', 'facts'], conflict: ['case_id'], update: ['facts'] };
const CUSTOMERS: BulkUpsert = {
  table: 'em_customers',
  columns: ['customer_id', 'merged_into', 'last_position', 'purchases', 'net_units', 'first_seen', 'lifecycle', 'segment_spans'],
  conflict: ['customer_id'],
  update: ['merged_into', 'last_position', 'purchases', 'net_units', 'first_seen', 'lifecycle', 'segment_spans'],
};
const PENDING_CHURNS: BulkUpsert = {
  table: 'em_lifecycle_pending',
  columns: [
    'customer_id',
    'churn_at',
    'day',
    'week',
    'month',
    'day_churned',
    'day_lost',
    'week_churned',
    'week_lost',
    'month_churned',
    'month_lost',
  ],
  conflict: ['customer_id'],
  update: ['churn_at', 'day', 'week', 'month', 'day_churned', 'day_lost', 'week_churned', 'week_lost', 'month_churned', 'month_lost'],
};
const CONTACT_HISTORY: BulkUpsert = {
  table: 'em_contact_history',
  columns: ['customer_id', 'contacts'],
  conflict: ['customer_id'],
  update: ['contacts'],
};
/** a customer's contact in a bucket is noted once: the row only says that it happened */
const CONTACT_CUSTOMERS: BulkUpsert = {
  table: 'em_contact_customers',
  columns: ['row_key', 'granularity', 'dimension', 'bucket', 'slice', 'customer_id'],
  conflict: ['row_key'],
  update: 'nothing',
};
const PROGRESS: BulkUpsert = { table: 'em_progress', columns: ['id', 'last_position'], conflict: ['id'], update: ['last_position'] };

const sameChanges = (a: readonly LifecycleChange[], b: readonly LifecycleChange[]): boolean =>
  a.length === b.length && a.every((c, i) => c.at === b[i].at && c.live === b[i].live && c.pending === b[i].pending);

async function loadCustomers(sql: DirectSql, ids: string[]): Promise<SegmentState[]> {
  const rows = await sql.selectByKeys<{
    customer_id: string;
    merged_into: string | null;
    last_position: number;
    purchases: number;
    net_units: number;
    first_seen: string | null;
    lifecycle: string | null;
    segment_spans: string | null;
  }>('em_customers', CUSTOMERS.columns, 'customer_id', ids);
  return rows.map((r) => ({
    customerId: r.customer_id,
    mergedInto: r.merged_into,
    lastPosition: Number(r.last_position),
    purchases: Number(r.purchases),
    netUnits: Number(r.net_units),
    firstSeen: r.first_seen,
    lifecycle: lifecycleOf(r.customer_id, r.lifecycle),
    lifecycleChanges: storedChanges(r.lifecycle),
    segmentSpans: r.segment_spans === null ? {} : (JSON.parse(r.segment_spans) as MembershipSpans),
  }));
}

/** Notes each contacting customer once per row (the JSON of the row is its key), in key order. */
async function writeContactCustomers(sql: DirectSql, contactCustomers: ContactCustomers): Promise<void> {
  const writes: SqlValue[][] = [];
  for (const rows of contactCustomers.values()) for (const row of rows.values()) writes.push([JSON.stringify(row), ...row]);
  writes.sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  await sql.upsert(CONTACT_CUSTOMERS, writes);
}

/** Adds each changed row's totals to the stored ones (read in bulk, written in bulk, in key order); an emptied row is deleted. */
async function writeRows(sql: DirectSql, rows: Map<string, BucketTotals>): Promise<void> {
  const keys = [...rows.keys()].filter((k) => !isEmptyTotals(rows.get(k)!)).sort();
  const stored = new Map<string, string>();
  for (const r of await sql.selectByKeys<{ row_key: string; totals: string }>('em_totals', ['row_key', 'totals'], 'row_key', keys)) {
    stored.set(r.row_key, r.totals);
  }
  const writes: SqlValue[][] = [];
  for (const key of keys) {
    const before = stored.get(key);
    const totals = before === undefined ? emptyTotals() : (JSON.parse(before) as BucketTotals);
    addTotals(totals, rows.get(key)!);
    if (!isEmptyTotals(totals)) writes.push([key, ...rowKeyParts(key), totalsJson(totals)]);
    else if (before !== undefined) await sql.run('DELETE FROM em_totals WHERE row_key = ?', [key]);
  }
  await sql.upsert(TOTALS, writes);
}
