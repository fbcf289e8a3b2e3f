import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { ContactCosts } from '@cem/config';
import { addTotals, countersOfJson, emptyTotals, type BucketTotals } from './bucket-totals';
import {
  METRICS,
  type LifecycleFigures,
  type MetricDefinition,
  type MetricName,
  type MetricPoint,
  type QueryFigures,
} from './metric-catalogue';
import { MetricQueryError, parseSeriesQuery, type RawSeriesQuery, type SeriesFilter, type SeriesQuery } from './metric-query';
import type { ExperienceMetricsTables } from './experience-metrics.schema';
import { ALL_DIMENSION, ALL_SLICE, pairName, pairOf, SEGMENT_ID, type Dimension } from './slices';
import { bucketOfDate, bucketsBetween, nextBucket, startOfLocalDate, type Granularity } from './time-buckets';

export type SeriesPoint = { bucket: string; start: string; end: string } & MetricPoint;

export interface MetricSeriesLine {
  /** the slice value, or `*` for the totals */
  slice: string;
  points: SeriesPoint[];
}

export interface MetricSeries {
  metric: string;
  summary: string;
  bucket: Granularity;
  timeZone: string;
  from: string;
  to: string;
  sliceBy: Dimension | null;
  /** the filter on one dimension (the first given); `filters` has all */
  filter: SeriesFilter | null;
  filters: SeriesFilter[];
  series: MetricSeriesLine[];
}

/**
 * The analyst segments a `segmentId` slice may name (the segments read model, given by the caller:
 * the API): every segment id defined, active or archived. Without it, ids are not checked.
 */
export interface SegmentDirectory {
  statuses(): Promise<ReadonlyMap<string, 'active' | 'archived'>>;
}

export interface SeriesOptions {
  segments?: SegmentDirectory;
}

/** Refuses a `segmentId` filter naming an unknown or archived segment; returns the statuses (undefined: the query names no segment id). */
async function checkSegmentIds(q: SeriesQuery, directory: SegmentDirectory | undefined) {
  const filter = q.filters.find((f) => f.dimension === SEGMENT_ID);
  if (!directory || (!filter && q.sliceBy !== SEGMENT_ID)) return undefined;
  const statuses = await directory.statuses();
  for (const id of filter?.values ?? []) {
    const status = statuses.get(id);
    if (status === undefined) throw new MetricQueryError('filter', `${SEGMENT_ID} "${id}" is not a segment (GET /v1/segments lists them)`);
    if (status === 'archived')
      throw new MetricQueryError('filter', `${SEGMENT_ID} "${id}" is archived: its members left it, it is no longer sliced by`);
  }
  return statuses;
}

/**
 * Which rows a query reads: those of one dimension (or of a pair of dimensions), the listed slice
 * values in SQL when one dimension is filtered, and per row its line and whether the filters keep it.
 */
interface RowSelection {
  dimension: string;
  /** true for the rows of a pair of dimensions */
  pair: boolean;
  /** `slice IN (...)`; undefined: every slice of the dimension (pairs are filtered in `keeps`) */
  slices?: string[];
  keeps(slice: string): boolean;
  lineOf(slice: string): string;
}

function rowSelection(q: SeriesQuery): RowSelection {
  const dimensions = [...new Set([...(q.sliceBy ? [q.sliceBy] : []), ...q.filters.map((f) => f.dimension)])];
  const pair = dimensions.length === 2 ? pairOf(dimensions[0], dimensions[1]) : undefined;
  if (!pair) {
    const only = q.filters[0];
    return {
      dimension: dimensions[0] ?? ALL_DIMENSION,
      pair: false,
      slices: only?.values,
      keeps: () => true,
      lineOf: (slice) => (q.sliceBy ? slice : ALL_SLICE),
    };
  }
  const valueOf = (slice: string, dimension: Dimension): string => (JSON.parse(slice) as string[])[pair.indexOf(dimension)];
  return {
    dimension: pairName(pair),
    pair: true,
    keeps: (slice) => q.filters.every((f) => f.values.includes(valueOf(slice, f.dimension))),
    lineOf: (slice) => (q.sliceBy ? valueOf(slice, q.sliceBy) : ALL_SLICE),
  };
}

interface BucketBounds {
  bucket: string;
  start: string;
  end: string;
}

/** ranges whose buckets and bounds are kept (a dashboard asks the same few ranges again and again) */
const MAX_CACHED_FRAMES = 64;
const NO_FIGURES: QueryFigures = Object.freeze({});
const EMPTY_TOTALS: BucketTotals = Object.freeze({ c: Object.freeze({}), h: Object.freeze({}) }) as BucketTotals;

/** true when a computed point has a number other than 0 (a count, a rate) */
function hasNonZeroFigure(point: MetricPoint): boolean {
  for (const k in point) {
    const v = point[k];
    if (typeof v === 'number' && v !== 0) return true;
  }
  return false;
}

/** The experience-metrics queries: metric time series over the pre-aggregated buckets. */
export class ExperienceMetricsQueries {
  private readonly bounds = new Map<string, BucketBounds>();
  private readonly frames = new Map<string, BucketBounds[]>();

  constructor(
    private readonly db: Kysely<ExperienceMetricsTables>,
    /** the zone the projection buckets in */
    readonly timeZone: string,
    /** CONTACT_COSTS; null: cost-to-serve is not configured and is refused */
    readonly contactCosts: ContactCosts | null = null,
    /** the clock a churn by inactivity is counted against (it has happened once now reaches it) */
    private readonly now: () => number = Date.now,
  ) {}

  /** false for a metric that needs a setting this process lacks (cost-to-serve without CONTACT_COSTS) */
  canAnswer(metric: MetricName): boolean {
    return !(((METRICS[metric] as MetricDefinition).needs ?? []).includes('contactCosts') && this.contactCosts === null);
  }

  /** Why the metric cannot be answered by this process (canAnswer false), in words naming the setting. */
  missingSettingOf(metric: MetricName): string {
    return `${metric} needs a cost per contact channel: CONTACT_COSTS is not configured`;
  }

  /** The same queries with other contact costs (a test, a what-if). */
  withContactCosts(costs: ContactCosts | null): ExperienceMetricsQueries {
    return new ExperienceMetricsQueries(this.db, this.timeZone, costs, this.now);
  }

  /** Validates and answers a series query given as text (the API's query string); MetricQueryError names a bad parameter. */
  async seriesOf(raw: RawSeriesQuery, options: SeriesOptions = {}): Promise<MetricSeries> {
    return this.series(parseSeriesQuery(raw, this.timeZone), options);
  }

  /**
   * One series per slice value (sliceBy), or one of the totals (filtered: the listed values
   * summed). Every bucket of the range is present; a bucket without data has the metric's empty
   * point (counts 0, rates null). With `options.segments`, a `segmentId` filter must name an active
   * segment (MetricQueryError otherwise), and `sliceBy=segmentId` gives the active segments' lines only.
   */
  async series(q: SeriesQuery, options: SeriesOptions = {}): Promise<MetricSeries> {
    const definition = METRICS[q.metric];
    const needs = (definition as MetricDefinition).needs ?? [];
    if (!this.canAnswer(q.metric)) throw new MetricQueryError('metric', this.missingSettingOf(q.metric));
    const segmentStatuses = await checkSegmentIds(q, options.segments);
    const bounds = this.frameOf(q.bucket, q.from, q.to);
    const buckets = bounds.map((b) => b.bucket);
    const selection = rowSelection(q);
    const { dimension } = selection;
    let query = this.db
      .selectFrom('em_totals')
      .select(['bucket', 'slice', 'totals'])
      .where('granularity', '=', q.bucket)
      .where('dimension', '=', dimension)
      .where('bucket', '>=', buckets[0])
      .where('bucket', '<=', buckets[buckets.length - 1]);
    if (selection.slices) query = query.where('slice', 'in', selection.slices);
    // no ORDER BY: rows land in maps by line and bucket, and the lines are sorted below (an ORDER BY
    // slice, bucket made SQLite sort the range in a temporary B-tree on every query)
    const rows = await query.execute();

    // line -> bucket -> totals (the rows of one line are summed: filtered values, the other dimension of a pair)
    const lines = new Map<string, Map<string, BucketTotals>>();
    // a row's bins are most of its text: a metric of counters parses only its counters
    const parse = (definition as MetricDefinition).readsMeasures ? (json: string) => JSON.parse(json) as BucketTotals : countersOfJson;
    for (const row of rows) {
      if (!selection.keeps(row.slice)) continue;
      const line = selection.lineOf(row.slice);
      // an archived segment's rows stay (its history), but it is no longer a line
      if (segmentStatuses && q.sliceBy === SEGMENT_ID && segmentStatuses.get(line) !== 'active') continue;
      let byBucket = lines.get(line);
      if (!byBucket) lines.set(line, (byBucket = new Map()));
      const totals = parse(row.totals);
      const prior = byBucket.get(row.bucket);
      if (prior) addTotals(prior, totals);
      else byBucket.set(row.bucket, totals);
    }
    if (!q.sliceBy && lines.size === 0) lines.set(ALL_SLICE, new Map());
    // the values asked for of the sliceBy dimension are lines even without data
    const sliceFilter = q.filters.find((f) => f.dimension === q.sliceBy);
    if (sliceFilter) for (const v of sliceFilter.values) if (!lines.has(v)) lines.set(v, new Map());

    const backlogStart = q.metric === 'case-backlog' ? await this.backlogBefore(selection, buckets[0]) : undefined;
    const contacting = needs.includes('contactingCustomers') ? await this.contactingCustomers(selection, q, buckets) : undefined;
    const known = needs.includes('customersKnown') ? await this.customersKnown(q.bucket, buckets) : undefined;
    const lifecycle = needs.includes('lifecycle') ? await this.lifecycleFigures(q.bucket, buckets, lines.get(ALL_SLICE)!) : undefined;
    const figuresOf = (slice: string, bucket: string): QueryFigures => ({
      ...(contacting ? { contactingCustomers: contacting.get(slice)?.get(bucket) ?? 0 } : {}),
      ...(known ? { customersKnown: known.get(bucket) ?? 0 } : {}),
      ...(lifecycle ? { lifecycle: lifecycle.get(bucket) } : {}),
      ...(needs.includes('contactCosts') && this.contactCosts ? { contactCosts: this.contactCosts } : {}),
    });

    const compute = (definition as MetricDefinition).compute;
    // a metric without query figures gets one shared empty set, a bucket without a row one shared
    // empty totals: compute only reads them (a year of days is 365 points per line)
    const figuresFor = needs.length === 0 ? () => NO_FIGURES : figuresOf;
    const series: MetricSeriesLine[] = [];
    for (const slice of [...lines.keys()].sort()) {
      const byBucket = lines.get(slice)!;
      let open = backlogStart?.get(slice) ?? 0;
      // whether a point has a non-zero figure, noted while the points are built (a second pass over
      // every point's entries cost as much as building them)
      let figured = false;
      const points = new Array<SeriesPoint>(bounds.length);
      for (let i = 0; i < bounds.length; i++) {
        const b = bounds[i];
        const point: MetricPoint = compute(byBucket.get(b.bucket) ?? EMPTY_TOTALS, figuresFor(slice, b.bucket));
        if (backlogStart) {
          open += (point.opened ?? 0) - (point.finished ?? 0);
          point.value = open;
        }
        // copied key by key: `{ ...b, ...point }` cost about 20 us per point (most of a year's
        // sliced series) once V8's object-spread cache went megamorphic
        const out = { bucket: b.bucket, start: b.start, end: b.end } as SeriesPoint;
        for (const k in point) {
          const v = point[k];
          out[k] = v;
          if (typeof v === 'number' && v !== 0) figured = true;
        }
        points[i] = out;
      }
      // a slice with data for other metrics only is left out (a sliced series lists the slices the metric has figures for);
      // figures found by the query (customers known, whatever the slice) do not make a slice one with data
      const hasFigures = needs.length === 0 ? figured : [...byBucket.values()].some((t) => hasNonZeroFigure(compute(t, NO_FIGURES)));
      if (!q.sliceBy || sliceFilter || hasFigures) series.push({ slice, points });
    }
    return {
      metric: q.metric,
      summary: definition.summary,
      bucket: q.bucket,
      timeZone: this.timeZone,
      from: q.from,
      to: q.to,
      sliceBy: q.sliceBy ?? null,
      filter: q.filters[0] ?? null,
      filters: q.filters,
      series,
    };
  }

  /**
   * The buckets of a range with their names and UTC bounds, computed once per (granularity, from,
   * to): stepping the dates and looking up each bucket's bounds were a tenth of a year's daily
   * series. Bounded: the oldest range is forgotten first.
   */
  private frameOf(granularity: Granularity, from: string, to: string): BucketBounds[] {
    const key = `${granularity}|${from}|${to}`;
    let frame = this.frames.get(key);
    if (!frame) {
      if (this.frames.size >= MAX_CACHED_FRAMES) this.frames.delete(this.frames.keys().next().value!);
      frame = bucketsBetween(from, to, granularity).map((bucket) => this.boundsOf(bucket, granularity));
      this.frames.set(key, frame);
    }
    return frame;
  }

  /** A bucket's name and UTC bounds, computed once per bucket whatever the range (time-zone arithmetic is the costly part) */
  private boundsOf(bucket: string, granularity: Granularity): BucketBounds {
    const key = `${granularity}|${bucket}`;
    let bounds = this.bounds.get(key);
    if (!bounds) {
      if (this.bounds.size > 100_000) this.bounds.clear();
      bounds = {
        bucket,
        start: startOfLocalDate(bucket, this.timeZone),
        end: startOfLocalDate(nextBucket(bucket, granularity), this.timeZone),
      };
      this.bounds.set(key, bounds);
    }
    return bounds;
  }

  /**
   * Distinct customers with a contact, per line and bucket: the ids noted by the projection resolved
   * through the merges known now (em_customers.merged_into points at the live survivor, no chains).
   */
  private async contactingCustomers(selection: RowSelection, q: SeriesQuery, buckets: string[]): Promise<Map<string, Map<string, number>>> {
    let query = this.db
      .selectFrom('em_contact_customers as t')
      .leftJoin('em_customers as c', 'c.customer_id', 't.customer_id')
      .where('t.granularity', '=', q.bucket)
      .where('t.dimension', '=', selection.dimension)
      .where('t.bucket', '>=', buckets[0])
      .where('t.bucket', '<=', buckets[buckets.length - 1]);
    if (selection.slices) query = query.where('t.slice', 'in', selection.slices);
    const out = new Map<string, Map<string, number>>();
    const count = (line: string, bucket: string, n: number) => {
      let byBucket = out.get(line);
      if (!byBucket) out.set(line, (byBucket = new Map()));
      byBucket.set(bucket, n);
    };
    if (!selection.pair) {
      // one dimension: each line is one slice value, or the listed values together (counted distinct in SQL)
      const counted = query
        .select(['t.bucket', sql<number | string>`count(distinct coalesce(c.merged_into, t.customer_id))`.as('customers')])
        .groupBy('t.bucket');
      const rows = q.sliceBy
        ? await counted.select('t.slice').groupBy('t.slice').execute()
        : (await counted.execute()).map((r) => ({ ...r, slice: ALL_SLICE }));
      for (const row of rows) count(row.slice, row.bucket, Number(row.customers));
      return out;
    }
    // a pair: a line gathers several pair slices (the other dimension's values), so the customers are
    // made distinct here, per line and bucket
    const rows = await query.select(['t.bucket', 't.slice', sql<string>`coalesce(c.merged_into, t.customer_id)`.as('customer')]).execute();
    const customers = new Map<string, Set<string>>();
    for (const row of rows) {
      if (!selection.keeps(row.slice)) continue;
      const key = JSON.stringify([selection.lineOf(row.slice), row.bucket]);
      let set = customers.get(key);
      if (!set) customers.set(key, (set = new Set()));
      set.add(row.customer);
    }
    for (const [key, set] of customers) {
      const [line, bucket] = JSON.parse(key) as [string, string];
      count(line, bucket, set.size);
    }
    return out;
  }

  /** Customers known by the end of each bucket: running totals of first events over the unsliced rows. */
  private async customersKnown(granularity: Granularity, buckets: string[]): Promise<Map<string, number>> {
    const first = buckets[0];
    const month = bucketOfDate(first, 'month');
    const counted = (granularity: Granularity) =>
      this.db
        .selectFrom('em_totals')
        .select(['bucket', 'totals'])
        .where('granularity', '=', granularity)
        .where('dimension', '=', ALL_DIMENSION)
        .where('slice', '=', ALL_SLICE);
    const firstSeen = (row: { totals: string }) => (JSON.parse(row.totals) as BucketTotals).c.customersFirstSeen ?? 0;
    let known = 0;
    for (const row of await counted('month').where('bucket', '<', month).execute()) known += firstSeen(row);
    for (const row of await counted('day').where('bucket', '>=', month).where('bucket', '<', first).execute()) known += firstSeen(row);
    const inBucket = new Map<string, number>();
    const rows = await counted(granularity)
      .where('bucket', '>=', first)
      .where('bucket', '<=', buckets[buckets.length - 1])
      .execute();
    for (const row of rows) inBucket.set(row.bucket, firstSeen(row));
    const out = new Map<string, number>();
    for (const b of buckets) out.set(b, (known += inBucket.get(b) ?? 0));
    return out;
  }

  /** Cases open at the start of `first`, per line. */
  private async backlogBefore(selection: RowSelection, first: string): Promise<Map<string, number>> {
    const open = new Map<string, number>();
    for (const [line, t] of await this.totalsBefore(selection, first)) open.set(line, (t.c.casesOpened ?? 0) - (t.c.casesFinished ?? 0));
    return open;
  }

  /**
   * Live customers at the start and end of each bucket (running totals of live starts and ends),
   * and the churns by inactivity after a last touch that have happened by now (em_lifecycle_pending).
   */
  private async lifecycleFigures(
    granularity: Granularity,
    buckets: string[],
    rows: Map<string, BucketTotals>,
  ): Promise<Map<string, LifecycleFigures>> {
    const [first, last] = [buckets[0], buckets[buckets.length - 1]];
    const now = new Date(this.now()).toISOString();
    const before = (
      await this.totalsBefore(
        { dimension: ALL_DIMENSION, pair: false, slices: [ALL_SLICE], keeps: () => true, lineOf: () => ALL_SLICE },
        first,
      )
    ).get(ALL_SLICE);
    const pendingBefore = await this.db
      .selectFrom('em_lifecycle_pending')
      .select(sql<number | string>`count(*)`.as('n'))
      .where('churn_at', '<=', now)
      .where('day', '<', first)
      .executeTakeFirst();
    const column = sql.ref(granularity);
    const pendingRows = await this.db
      .selectFrom('em_lifecycle_pending')
      .select([
        sql<string>`${column}`.as('bucket'),
        sql<number | string>`count(*)`.as('ends'),
        sql<number | string>`sum(${sql.ref(`${granularity}_churned`)})`.as('churned'),
        sql<number | string>`sum(${sql.ref(`${granularity}_lost`)})`.as('lost'),
      ])
      .where('churn_at', '<=', now)
      .where(granularity, '>=', first)
      .where(granularity, '<=', last)
      .groupBy(granularity)
      .execute();
    const pending = new Map(pendingRows.map((r) => [r.bucket, r]));
    let active = (before?.c.lifeStarts ?? 0) - (before?.c.lifeEnds ?? 0) - Number(pendingBefore?.n ?? 0);
    const out = new Map<string, LifecycleFigures>();
    for (const bucket of buckets) {
      const t = rows.get(bucket);
      const p = pending.get(bucket);
      const activeAtStart = active;
      active += (t?.c.lifeStarts ?? 0) - (t?.c.lifeEnds ?? 0) - Number(p?.ends ?? 0);
      out.set(bucket, { activeAtStart, activeAtEnd: active, pendingChurned: Number(p?.churned ?? 0), pendingLost: Number(p?.lost ?? 0) });
    }
    return out;
  }

  /** The totals of every row before `first`, per line: whole months before its month, then its month's days before it. */
  private async totalsBefore(selection: RowSelection, first: string): Promise<Map<string, BucketTotals>> {
    const month = bucketOfDate(first, 'month');
    const select = (granularity: Granularity) => {
      let query = this.db
        .selectFrom('em_totals')
        .select(['slice', 'totals'])
        .where('granularity', '=', granularity)
        .where('dimension', '=', selection.dimension);
      if (selection.slices) query = query.where('slice', 'in', selection.slices);
      return query;
    };
    const rows = [
      ...(await select('month').where('bucket', '<', month).execute()),
      ...(await select('day').where('bucket', '>=', month).where('bucket', '<', first).execute()),
    ];
    const sums = new Map<string, BucketTotals>();
    for (const row of rows) {
      if (!selection.keeps(row.slice)) continue;
      const line = selection.lineOf(row.slice);
      let sum = sums.get(line);
      if (!sum) sums.set(line, (sum = emptyTotals()));
      addTotals(sum, JSON.parse(row.totals) as BucketTotals);
    }
    return sums;
  }
}
