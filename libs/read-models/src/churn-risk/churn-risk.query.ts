import type { Kysely } from 'kysely';
import type { ChurnBand, ChurnModelFittedV1 } from '@cem/domain';
import { decodeCursor, encodeCursor, InvalidCursorError, type Page } from '../kit/cursor';
import { valueSegment, type LifecycleStage, type ValueSegment } from '../customer-360/lifecycle';
import type { ChurnFacts } from './churn-facts';
import { lifecycleStageAt } from './churn-lifecycle';
import type { ChurnRiskTables } from './churn-risk.schema';
import { churnFeatures, knownAt } from './model/features';
import { riskModelOf } from './model/fit-churn-model';
import { PRIOR_MODEL } from './model/prior-model';
import { BANDS, scoreFeatures, type FactorContribution, type RiskModel } from './model/risk-model';

export interface ChurnScoreView {
  customerId: string;
  asOf: string;
  model: { name: string; version: number; horizonDays: number };
  probability: number;
  logOdds: number;
  /** log-odds of a customer at the training mean; logOdds = base + sum of the factors' contributions */
  base: number;
  band: ChurnBand;
  netValue: number;
  valueSegment: ValueSegment;
  /** the customer's lifecycle stage at `asOf` (the customer 360's rules) */
  lifecycleStage: LifecycleStage;
  factors: FactorContribution[];
}

/** One row of a scoring of every customer (the list, the distribution, the re-scoring). */
export interface ScoredCustomer {
  customerId: string;
  probability: number;
  logOdds: number;
  band: ChurnBand;
  netValue: number;
  valueSegment: ValueSegment;
  lifecycleStage: LifecycleStage;
  /** probability x net value */
  valueAtRisk: number;
  /** the factor pushing most towards churn, with its reason */
  topFactor: { name: string; contribution: number; reason: string } | null;
  /** band changes announced so far (`churn-risk.changed`), and the last one */
  announced: number;
  announcedBand: ChurnBand | null;
}

export interface Scoring {
  asOf: string;
  model: { name: string; version: number; horizonDays: number };
  customers: ScoredCustomer[];
}

export interface AtRiskFilter {
  bands?: ChurnBand[];
  segments?: ValueSegment[];
  stages?: LifecycleStage[];
  minValue?: number;
  sort?: 'score' | 'valueAtRisk';
  limit: number;
  cursor?: string;
}

export interface Distribution {
  asOf: string;
  model: { name: string; version: number; horizonDays: number };
  customers: number;
  bands: { band: ChurnBand; customers: number; histogram: { from: number; to: number; customers: number }[] }[];
}

/**
 * Scoring every customer is the costly part: the last few scorings are kept, keyed by instant, model
 * and log position. A scoring at a later position of the same instant and model is derived from a
 * kept one by re-scoring only the customers whose facts changed since (last_position above it).
 */
const CACHED_SCORINGS = 4;
const PAGE = 2_000;
/** the largest instant a JavaScript Date holds */
const MAX_DATE_MS = 8.64e15;

/** What a merged-away customer answers: where its history went. */
export interface MergedAway {
  mergedInto: string;
}

interface CachedScoring {
  /** instant and model: scorings with the same one differ only by the customers changed in between */
  instantAndModel: string;
  position: number;
  scoring: Promise<Scoring>;
}

type SortKey = NonNullable<AtRiskFilter['sort']>;

export class ChurnRiskQueries {
  private readonly scorings = new Map<string, CachedScoring>();
  /** a scoring's customers in list order, per sort key: sorted once, then every page is a walk from its cursor */
  private readonly orders = new WeakMap<Scoring, Partial<Record<SortKey, ScoredCustomer[]>>>();
  /** the instant of the last scheduled re-scoring: "now" lists reuse it while it is fresh */
  private lastScheduled?: number;

  constructor(
    private readonly db: Kysely<ChurnRiskTables>,
    /** the clock a default "now" reads (the API refuses an `asOf` after it) */
    readonly now: () => number,
    /** CHURN_BAND_THRESHOLDS, for the prior model only: a fitted model keeps the thresholds it was fitted with */
    priorBandThresholds?: readonly [number, number, number],
  ) {
    this.prior = priorBandThresholds ? { ...PRIOR_MODEL, bandThresholds: [...priorBandThresholds] } : PRIOR_MODEL;
  }

  /** the model scoring before the first `cem churn fit` */
  private readonly prior: RiskModel;

  /** The latest fitted model, or the prior (version 0) before the first fit. */
  async model(): Promise<{ model: RiskModel; fitted: ChurnModelFittedV1 | null }> {
    const row = await this.db.selectFrom('churn_models').select('payload').orderBy('version', 'desc').limit(1).executeTakeFirst();
    if (!row) return { model: this.prior, fitted: null };
    const fitted = JSON.parse(row.payload) as ChurnModelFittedV1;
    return { model: riskModelOf(fitted), fitted };
  }

  /** All fitted models, newest first (the audit trail of what scored whom). */
  async models(): Promise<ChurnModelFittedV1[]> {
    const rows = await this.db.selectFrom('churn_models').select('payload').orderBy('version', 'desc').execute();
    return rows.map((r) => JSON.parse(r.payload) as ChurnModelFittedV1);
  }

  async facts(customerId: string): Promise<ChurnFacts | undefined> {
    const row = await this.db.selectFrom('churn_customers').select('facts').where('customer_id', '=', customerId).executeTakeFirst();
    return row ? (JSON.parse(row.facts) as ChurnFacts) : undefined;
  }

  /**
   * One customer's score with its factors, as of `asOf` (default now), from the facts that occurred
   * before it. Undefined: unknown, or no touch point before `asOf`.
   */
  async score(customerId: string, asOf = this.now()): Promise<ChurnScoreView | MergedAway | undefined> {
    const facts = await this.facts(customerId);
    if (!facts) return undefined;
    if (facts.mergedInto !== null) return { mergedInto: facts.mergedInto };
    if (!knownAt(facts, asOf)) return undefined;
    const { model } = await this.model();
    return scoreChurnFacts(facts, model, asOf);
  }

  /** Every live customer known at `asOf`, scored (customer id order). Cached for the last few (asOf, model, log position). */
  async scoreAll(asOf = this.now()): Promise<Scoring> {
    const { model } = await this.model();
    const head = await this.db
      .selectFrom('churn_customers')
      .select((eb) => eb.fn.max('last_position').as('p'))
      .executeTakeFirst();
    const position = Number(head?.p ?? 0);
    const instantAndModel = `${asOf}|${model.name}|${model.version}`;
    const key = `${instantAndModel}|${position}`;
    let cached = this.scorings.get(key);
    if (!cached) {
      // the latest kept scoring of this instant and model at an earlier position, if any
      let base: CachedScoring | undefined;
      for (const c of this.scorings.values())
        if (c.instantAndModel === instantAndModel && c.position < position && (!base || c.position > base.position)) base = c;
      const scoring = base ? this.updateScoring(model, asOf, base) : this.computeScoring(model, asOf);
      cached = { instantAndModel, position, scoring };
      this.scorings.set(key, cached);
      scoring.catch(() => this.scorings.delete(key));
      while (this.scorings.size > CACHED_SCORINGS) this.scorings.delete(this.scorings.keys().next().value!);
    }
    return cached.scoring;
  }

  private async computeScoring(model: RiskModel, asOf: number): Promise<Scoring> {
    const customers: ScoredCustomer[] = [];
    let after = '';
    for (;;) {
      const rows = await this.db
        .selectFrom('churn_customers')
        .select(['customer_id', 'facts'])
        .where('merged_into', 'is', null)
        .where('customer_id', '>', after)
        .orderBy('customer_id')
        .limit(PAGE)
        .execute();
      for (const row of rows) {
        const scored = scoreCustomer(model, JSON.parse(row.facts) as ChurnFacts, asOf);
        if (scored) customers.push(scored);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1].customer_id;
      // let other requests in between pages: a scoring of 100,000 customers takes seconds
      await new Promise((r) => setImmediate(r));
    }
    return { asOf: new Date(asOf).toISOString(), model: modelRef(model), customers };
  }

  /**
   * `base` brought up to the log's current position: the customers whose row changed after its
   * position (new events, merges, announced band changes) are re-scored or dropped (merged away);
   * the others keep their score, which depends only on their facts, the instant and the model.
   */
  private async updateScoring(model: RiskModel, asOf: number, base: CachedScoring): Promise<Scoring> {
    const previous = await base.scoring;
    const rows = await this.db
      .selectFrom('churn_customers')
      .select(['customer_id', 'merged_into', 'facts'])
      .where('last_position', '>', base.position)
      .execute();
    if (rows.length === 0) return previous;
    const byId = new Map(previous.customers.map((c) => [c.customerId, c]));
    for (const row of rows) {
      byId.delete(row.customer_id);
      if (row.merged_into !== null) continue;
      const scored = scoreCustomer(model, JSON.parse(row.facts) as ChurnFacts, asOf);
      if (scored) byId.set(row.customer_id, scored);
    }
    const customers = [...byId.values()].sort((a, b) => (a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0));
    return { asOf: previous.asOf, model: previous.model, customers };
  }

  /**
   * Remembers a scoring made by the scheduled re-scoring: lists and distributions asked for "now"
   * answer from it while it is younger than `freshMs` (instead of scoring everyone per request).
   */
  rememberScheduledScoring(asOf: number): void {
    this.lastScheduled = asOf;
  }

  /** The instant a "now" list is evaluated at: the last scheduled scoring if fresh, else the clock. */
  currentAsOf(freshMs = 5 * 60_000): number {
    const now = this.now();
    return this.lastScheduled !== undefined && now - this.lastScheduled < freshMs && this.lastScheduled <= now ? this.lastScheduled : now;
  }

  /**
   * At-risk customers, filtered, sorted by score or value at risk (descending), keyset pages. The
   * cursor carries the instant of the first page, so every page of a listing is of one scoring.
   */
  async atRisk(filter: AtRiskFilter, asOfArg?: number): Promise<Page<ScoredCustomer> & { asOf: string; model: Scoring['model'] }> {
    let position: [number, string] | undefined;
    let asOf = asOfArg ?? this.currentAsOf();
    if (filter.cursor) {
      const [at, key, id] = decodeCursor(
        filter.cursor,
        // the instant must be a date (a forged one would make the scoring throw a RangeError)
        (p) =>
          p.length === 3 &&
          Number.isSafeInteger(p[0]) &&
          Math.abs(p[0] as number) <= MAX_DATE_MS &&
          typeof p[1] === 'number' &&
          typeof p[2] === 'string',
      ) as [number, number, string];
      // a listing's instant is never after the clock: such a cursor was forged
      if (at > this.now()) throw new InvalidCursorError();
      asOf = at;
      position = [key, id];
    }
    const scoring = await this.scoreAll(asOf);
    const sort = filter.sort ?? 'score';
    const sortKey = (c: ScoredCustomer) => (sort === 'valueAtRisk' ? c.valueAtRisk : c.probability);
    const ordered = this.ordered(scoring, sort, sortKey);
    const matches = (c: ScoredCustomer) =>
      (!filter.bands || filter.bands.includes(c.band)) &&
      (!filter.segments || filter.segments.includes(c.valueSegment)) &&
      (!filter.stages || filter.stages.includes(c.lifecycleStage)) &&
      (filter.minValue === undefined || c.netValue >= filter.minValue);
    // the first customer after the cursor: the order is the cursor's order, so a binary search finds it
    let start = 0;
    if (position) {
      const [key, id] = position;
      const after = (c: ScoredCustomer) => sortKey(c) < key || (sortKey(c) === key && c.customerId > id);
      let hi = ordered.length;
      while (start < hi) {
        const mid = (start + hi) >> 1;
        if (after(ordered[mid])) hi = mid;
        else start = mid + 1;
      }
    }
    const items: ScoredCustomer[] = [];
    let more = false;
    for (let i = start; i < ordered.length; i++) {
      if (!matches(ordered[i])) continue;
      if (items.length === filter.limit) {
        more = true;
        break;
      }
      items.push(ordered[i]);
    }
    const last = items[items.length - 1];
    return {
      asOf: scoring.asOf,
      model: scoring.model,
      items,
      nextCursor: more && last ? encodeCursor([asOf, sortKey(last), last.customerId]) : undefined,
    };
  }

  /** The scoring's customers by `sortKey` descending, then customer id: sorted once per scoring and key. */
  private ordered(scoring: Scoring, sort: SortKey, sortKey: (c: ScoredCustomer) => number): ScoredCustomer[] {
    let orders = this.orders.get(scoring);
    if (!orders) this.orders.set(scoring, (orders = {}));
    return (orders[sort] ??= [...scoring.customers].sort(
      (a, b) => sortKey(b) - sortKey(a) || (a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0),
    ));
  }

  /** Customers per band with a histogram of probabilities (ten 0.1-wide bins), as of `asOf`. */
  async distribution(asOf = this.currentAsOf()): Promise<Distribution> {
    const scoring = await this.scoreAll(asOf);
    const bins = (band: ChurnBand) => {
      const counts = new Array<number>(10).fill(0);
      for (const c of scoring.customers) if (c.band === band) counts[Math.min(9, Math.floor(c.probability * 10))]++;
      return counts.map((customers, i) => ({ from: i / 10, to: (i + 1) / 10, customers }));
    };
    return {
      asOf: scoring.asOf,
      model: scoring.model,
      customers: scoring.customers.length,
      bands: BANDS.map((band) => ({ band, customers: scoring.customers.filter((c) => c.band === band).length, histogram: bins(band) })),
    };
  }
}

/**
 * One customer's score as of `asOf` from its facts (those that occurred before it) and a model; undefined
 * before its first touch point. Pure: the read model and the as-of views (computed from the log) share it.
 */
export function scoreChurnFacts(facts: ChurnFacts, model: RiskModel, asOf: number): ChurnScoreView | undefined {
  if (!knownAt(facts, asOf)) return undefined;
  const s = scoreFeatures(model, churnFeatures(facts, asOf, { bgNbd: model.bgNbd, windowDays: model.trainingWindowDays }));
  const value = netValueAt(facts, asOf);
  return {
    customerId: facts.customerId,
    asOf: new Date(asOf).toISOString(),
    model: modelRef(model),
    probability: s.probability,
    logOdds: s.logOdds,
    base: s.base,
    band: s.band,
    netValue: value.net,
    valueSegment: valueSegment(value.purchases, value.net),
    lifecycleStage: lifecycleStageAt(facts, asOf),
    factors: s.factors,
  };
}

const modelRef = (m: RiskModel) => ({ name: m.name, version: m.version, horizonDays: m.horizonDays });

/** One customer's row of a scoring; undefined when the customer has no touch point before `asOf`. */
function scoreCustomer(model: RiskModel, facts: ChurnFacts, asOf: number): ScoredCustomer | undefined {
  if (!knownAt(facts, asOf)) return undefined;
  const s = scoreFeatures(model, churnFeatures(facts, asOf, { bgNbd: model.bgNbd, windowDays: model.trainingWindowDays }));
  const value = netValueAt(facts, asOf);
  const top = s.factors.find((f) => f.contribution > 0);
  return {
    customerId: facts.customerId,
    probability: s.probability,
    logOdds: s.logOdds,
    band: s.band,
    netValue: value.net,
    valueSegment: valueSegment(value.purchases, value.net),
    lifecycleStage: lifecycleStageAt(facts, asOf),
    valueAtRisk: s.probability * Math.max(0, value.net),
    topFactor: top ? { name: top.name, contribution: top.contribution, reason: top.reason } : null,
    announced: facts.announced,
    announcedBand: facts.announcedBand as ChurnBand | null,
  };
}

function netValueAt(facts: ChurnFacts, asOf: number): { net: number; purchases: number } {
  let net = 0;
  let purchases = 0;
  for (const [at, amount] of facts.purchases) {
    if (at >= asOf) break;
    net += amount;
    purchases++;
  }
  for (const [at, amount] of facts.refunds) {
    if (at >= asOf) break;
    net -= amount;
  }
  return { net: Math.round(net * 10_000) / 10_000, purchases };
}
