import type { Kysely } from 'kysely';
import type { SegmentDefinition } from '@cem/domain';
import { decodeCursor, encodeCursor, type Page } from '../kit/cursor';
import { compileSegmentRule, STANDARD_CONSENT_PURPOSES, type RulePredicate, type RuleVocabulary } from './segment-rule';
import { consentHeld, segmentFactsOf, type SegmentCustomerState } from './segments.model';
import type { SegmentsTables, SgSegmentsTable } from './segments.schema';

export interface SegmentView {
  segmentId: string;
  version: number;
  status: 'active' | 'archived';
  segment: SegmentDefinition;
  createdAt: string;
  updatedAt: string;
  /** the name of the API key of the latest change */
  changedBy: string;
}

export interface SegmentSize {
  /** live customers in the segment now */
  size: number;
  /** of them, without the segment's consent purpose now: counted, not exported nor signalled */
  heldBack: number;
}

export interface SegmentChange {
  version: number;
  kind: 'created' | 'changed' | 'archived';
  at: string;
  changedBy: string;
  position: number;
  /** null for an archiving */
  segment: SegmentDefinition | null;
}

export interface SegmentMember {
  customerId: string;
  since: string;
  /** the definition version of the customer's latest change in the segment */
  version: number;
  /** holds the segment's consent purpose now (always true when it names none) */
  consent: boolean;
}

export interface CustomerSegment {
  segmentId: string;
  name: string;
  since: string;
  consent: boolean;
}

/** Where the evaluation of one segment definition stands (what the API shows as progress). */
export interface SegmentEvaluation {
  segmentId: string;
  version: number;
  /** `evaluating`: a run is walking the customers; `announcing`: changes found, some not yet appended; `done`: membership matches the rule as of `asOf` */
  state: 'evaluating' | 'announcing' | 'done';
  /** live customers evaluated so far in the latest run, of `total` */
  evaluated: number;
  total: number;
  /** entries and exits found by the latest run that are not in the log yet */
  pending: number;
  /** the instant the latest run evaluated the rule at */
  asOf: string;
}

export interface DryRun {
  asOf: string;
  /** live customers evaluated */
  evaluated: number;
  matched: number;
  /** of the matched, without the consent purpose */
  heldBack: number;
  /** up to 10 matched customer ids, in id order */
  examples: string[];
}

/** customers read per query while walking every live customer (bounded memory) */
export const LIVE_PAGE = 2000;
export const DRY_RUN_EXAMPLES = 10;

/** The rule vocabulary of the job: rules were validated when saved, every purpose they name stands. */
export const ANY_VOCABULARY: RuleVocabulary = { consentPurposes: { has: () => true } as unknown as ReadonlySet<string> };

export class SegmentsQueries {
  constructor(
    private readonly db: Kysely<SegmentsTables>,
    private readonly now: () => number,
  ) {}

  /** Every segment, archived ones too, by id (tens of segments, not thousands: no paging). */
  async list(): Promise<SegmentView[]> {
    return (await this.db.selectFrom('sg_segments').selectAll().orderBy('segment_id').execute()).map(toView);
  }

  /** Where the scheduled evaluation of the segment stands (written by the process running the scheduler); undefined before its first run. */
  async evaluationOf(segmentId: string): Promise<SegmentEvaluation | undefined> {
    const r = await this.db.selectFrom('sg_evaluations').selectAll().where('segment_id', '=', segmentId).executeTakeFirst();
    if (!r) return undefined;
    return {
      segmentId: r.segment_id,
      version: Number(r.version),
      state: r.state as SegmentEvaluation['state'],
      evaluated: Number(r.evaluated),
      total: Number(r.total),
      pending: Number(r.pending),
      asOf: r.as_of,
    };
  }

  /** Every segment id and whether it is archived (what the experience metrics' `segmentId` slice checks names against). */
  async statuses(): Promise<Map<string, 'active' | 'archived'>> {
    const rows = await this.db.selectFrom('sg_segments').select(['segment_id', 'archived']).execute();
    return new Map(rows.map((r) => [r.segment_id, Number(r.archived) === 1 ? 'archived' : 'active']));
  }

  async byId(segmentId: string): Promise<SegmentView | undefined> {
    const row = await this.db.selectFrom('sg_segments').selectAll().where('segment_id', '=', segmentId).executeTakeFirst();
    return row ? toView(row) : undefined;
  }

  /** The segment's versions, oldest first: who changed what, when. */
  async changes(segmentId: string): Promise<SegmentChange[]> {
    const rows = await this.db.selectFrom('sg_changes').selectAll().where('segment_id', '=', segmentId).orderBy('version').execute();
    return rows.map((r) => ({
      version: Number(r.version),
      kind: r.kind as SegmentChange['kind'],
      at: r.occurred_at,
      changedBy: r.changed_by,
      position: Number(r.position),
      segment: r.definition === null ? null : (JSON.parse(r.definition) as SegmentDefinition),
    }));
  }

  async size(segment: SegmentView): Promise<SegmentSize> {
    const total = await this.db
      .selectFrom('sg_members')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('segment_id', '=', segment.segmentId)
      .executeTakeFirstOrThrow();
    const purpose = segment.segment.consentPurpose;
    if (purpose === null) return { size: Number(total.n), heldBack: 0 };
    const consenting = await this.db
      .selectFrom('sg_members as m')
      .innerJoin('sg_consents as c', (j) =>
        j.onRef('c.customer_id', '=', 'm.customer_id').on('c.purpose', '=', purpose).on('c.granted', '=', 1),
      )
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('m.segment_id', '=', segment.segmentId)
      .executeTakeFirstOrThrow();
    return { size: Number(total.n), heldBack: Number(total.n) - Number(consenting.n) };
  }

  /**
   * The size at the end of each UTC day of the last `days` days up to `asOf` (oldest first): the
   * running sum of entries and exits, merges included.
   */
  async trend(segmentId: string, days: number, asOfMs = this.now()): Promise<{ day: string; size: number }[]> {
    const rows = await this.db.selectFrom('sg_daily').selectAll().where('segment_id', '=', segmentId).orderBy('day').execute();
    const last = new Date(asOfMs).toISOString().slice(0, 10);
    const first = new Date(Date.parse(`${last}T00:00:00Z`) - (days - 1) * 86_400_000).toISOString().slice(0, 10);
    const out: { day: string; size: number }[] = [];
    let size = 0;
    let i = 0;
    for (let t = Date.parse(`${first}T00:00:00Z`); ; t += 86_400_000) {
      const day = new Date(t).toISOString().slice(0, 10);
      if (day > last) break;
      while (i < rows.length && rows[i].day <= day) {
        size += Number(rows[i].entered) - Number(rows[i].exited);
        i++;
      }
      out.push({ day, size });
    }
    return out;
  }

  /**
   * The members, by customer id from the cursor. `consentOnly`: only those holding the segment's
   * consent purpose now (what may be exported).
   */
  async members(segment: SegmentView, options: { limit: number; cursor?: string; consentOnly?: boolean }): Promise<Page<SegmentMember>> {
    const after = options.cursor
      ? (decodeCursor(options.cursor, (p) => p.length === 1 && typeof p[0] === 'string')[0] as string)
      : undefined;
    const purpose = segment.segment.consentPurpose;
    let q = this.db
      .selectFrom('sg_members as m')
      .leftJoin('sg_consents as c', (j) => j.onRef('c.customer_id', '=', 'm.customer_id').on('c.purpose', '=', purpose ?? ''))
      .select(['m.customer_id', 'm.since', 'm.version', 'c.granted'])
      .where('m.segment_id', '=', segment.segmentId)
      .orderBy('m.customer_id')
      .limit(options.limit + 1);
    if (after !== undefined) q = q.where('m.customer_id', '>', after);
    if (options.consentOnly && purpose !== null) q = q.where('c.granted', '=', 1);
    const rows = await q.execute();
    const items = rows.slice(0, options.limit).map((r) => ({
      customerId: r.customer_id,
      since: r.since,
      version: Number(r.version),
      consent: purpose === null || Number(r.granted) === 1,
    }));
    return rows.length > options.limit ? { items, nextCursor: encodeCursor([items[items.length - 1].customerId]) } : { items };
  }

  /** The segments a live customer is in now (a merged-away id has none: ask its survivor). */
  async ofCustomer(customerId: string): Promise<CustomerSegment[]> {
    const rows = await this.db
      .selectFrom('sg_members as m')
      .innerJoin('sg_segments as s', 's.segment_id', 'm.segment_id')
      .select(['m.segment_id', 'm.since', 's.definition'])
      .where('m.customer_id', '=', customerId)
      .orderBy('m.segment_id')
      .execute();
    if (rows.length === 0) return [];
    const consents = new Map(
      (await this.db.selectFrom('sg_consents').select(['purpose', 'granted']).where('customer_id', '=', customerId).execute()).map((c) => [
        c.purpose,
        Number(c.granted) === 1,
      ]),
    );
    return rows.map((r) => {
      const d = JSON.parse(r.definition) as SegmentDefinition;
      return {
        segmentId: r.segment_id,
        name: d.name,
        since: r.since,
        consent: d.consentPurpose === null || consents.get(d.consentPurpose) === true,
      };
    });
  }

  /** Consent purposes the log has seen (any consent.changed), with the standard ones. */
  async consentPurposes(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('sg_consents').select('purpose').distinct().execute();
    return new Set([...STANDARD_CONSENT_PURPOSES, ...rows.map((r) => r.purpose)]);
  }

  /** Live customers (not merged away) the read model holds. */
  async liveCount(): Promise<number> {
    const r = await this.db
      .selectFrom('sg_customers')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('merged_into', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Every live customer's state, a page at a time (keyset by id): what the evaluation and dry runs walk. */
  async *liveCustomers(pageSize = LIVE_PAGE): AsyncGenerator<SegmentCustomerState[]> {
    let after = '';
    for (;;) {
      const rows = await this.db
        .selectFrom('sg_customers')
        .select(['customer_id', 'doc'])
        .where('merged_into', 'is', null)
        .where('customer_id', '>', after)
        .orderBy('customer_id')
        .limit(pageSize)
        .execute();
      if (rows.length === 0) return;
      yield rows.map((r) => JSON.parse(r.doc) as SegmentCustomerState);
      after = rows[rows.length - 1].customer_id;
      if (rows.length < pageSize) return;
    }
  }

  /** How many live customers a rule (already compiled) matches at `asOfMs`, and 10 of them. */
  async dryRun(evaluate: RulePredicate, consentPurpose: string | null, asOfMs = this.now()): Promise<DryRun> {
    const result: DryRun = { asOf: new Date(asOfMs).toISOString(), evaluated: 0, matched: 0, heldBack: 0, examples: [] };
    for await (const page of this.liveCustomers()) {
      for (const s of page) {
        result.evaluated++;
        if (!evaluate(segmentFactsOf(s, asOfMs), asOfMs)) continue;
        result.matched++;
        if (!consentHeld(s, consentPurpose)) result.heldBack++;
        if (result.examples.length < DRY_RUN_EXAMPLES) result.examples.push(s.customerId);
      }
    }
    return result;
  }

  /** Compiles a stored definition's rule (validated when saved). */
  static compile(segment: SegmentDefinition): RulePredicate {
    const check = compileSegmentRule(segment.rule, ANY_VOCABULARY);
    // a stored rule the current code refuses (never expected): it matches nobody rather than everybody
    return check.ok ? check.evaluate : () => false;
  }
}

const toView = (r: SgSegmentsTable): SegmentView => ({
  segmentId: r.segment_id,
  version: Number(r.version),
  status: Number(r.archived) === 1 ? 'archived' : 'active',
  segment: JSON.parse(r.definition) as SegmentDefinition,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  changedBy: r.changed_by,
});
