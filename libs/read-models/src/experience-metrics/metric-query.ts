import { isMetricName, METRIC_NAMES, METRICS, type MetricDefinition, type MetricName } from './metric-catalogue';
import { DIMENSION_PAIRS, DIMENSIONS, isDimension, pairName, pairOf, SEGMENT_ID, type Dimension } from './slices';
import { bucketsBetween, GRANULARITIES, isGranularity, isKnownTimeZone, isLocalDate, type Granularity } from './time-buckets';

/** The most buckets one series may have (a daily series of about 2 years and 9 months). */
export const MAX_SERIES_BUCKETS = 1000;
/** The most values one filter may list. */
export const MAX_FILTER_VALUES = 50;

/** A metric time series asked for, validated. */
export interface SeriesQuery {
  metric: MetricName;
  bucket: Granularity;
  /** first local date (YYYY-MM-DD, inclusive) in the reporting time zone; the series starts with the bucket holding it */
  from: string;
  /** local date (exclusive): the last bucket is the last one starting before it */
  to: string;
  /** IANA name; must be the read model's reporting time zone (default: it) */
  timeZone?: string;
  /** one series per value of this dimension; absent: one series of the totals */
  sliceBy?: Dimension;
  /**
   * keep only these values, per dimension (values of one dimension: any of them); sliceBy and the
   * filters name one dimension, or the two of a pair (DIMENSION_PAIRS)
   */
  filters: SeriesFilter[];
}

export interface SeriesFilter {
  dimension: Dimension;
  values: string[];
}

/** A parameter of a series query that cannot be answered: `parameter` names it. */
export class MetricQueryError extends Error {
  constructor(
    readonly parameter: string,
    readonly reason: string,
  ) {
    super(`${parameter}: ${reason}`);
  }
}

/** What an API or a caller sends, as text (query-string shape). */
export interface RawSeriesQuery {
  metric?: string;
  bucket?: string;
  from?: string;
  to?: string;
  timeZone?: string;
  sliceBy?: string;
  /** `dimension:value`, repeated for several values of one dimension */
  filter?: string | string[];
}

/**
 * Checks every parameter; throws MetricQueryError naming the first bad one. `reportingTimeZone` is
 * the zone the read model buckets in: another valid zone is refused with a reason saying so.
 */
export function parseSeriesQuery(raw: RawSeriesQuery, reportingTimeZone: string): SeriesQuery {
  const { metric, bucket, from, to } = raw;
  if (metric === undefined || !isMetricName(metric))
    throw new MetricQueryError('metric', `unknown metric; one of ${METRIC_NAMES.join(', ')}`);
  if (bucket === undefined || !isGranularity(bucket)) throw new MetricQueryError('bucket', `must be one of ${GRANULARITIES.join(', ')}`);
  if (from === undefined || !isLocalDate(from)) throw new MetricQueryError('from', 'must be a calendar date YYYY-MM-DD');
  if (to === undefined || !isLocalDate(to)) throw new MetricQueryError('to', 'must be a calendar date YYYY-MM-DD');
  if (to <= from) throw new MetricQueryError('to', 'must be after from (the range is from inclusive to exclusive)');
  if (bucketsBetween(from, to, bucket, MAX_SERIES_BUCKETS).length > MAX_SERIES_BUCKETS) {
    throw new MetricQueryError(
      'to',
      `the range holds more than ${MAX_SERIES_BUCKETS} ${bucket} buckets; at most ${MAX_SERIES_BUCKETS} per series`,
    );
  }
  const timeZone = raw.timeZone ?? reportingTimeZone;
  // the reporting zone was checked at boot; Luxon's check costs about a millisecond per query
  if (timeZone !== reportingTimeZone && !isKnownTimeZone(timeZone))
    throw new MetricQueryError('timeZone', 'unknown time zone (an IANA name such as Europe/Berlin or UTC)');
  if (timeZone !== reportingTimeZone) {
    throw new MetricQueryError('timeZone', `metrics are bucketed in the reporting time zone ${reportingTimeZone} (METRICS_TIME_ZONE)`);
  }
  let sliceBy: Dimension | undefined;
  if (raw.sliceBy !== undefined) {
    if (!isDimension(raw.sliceBy)) throw new MetricQueryError('sliceBy', `unknown slice; one of ${DIMENSIONS.join(', ')}`);
    sliceBy = raw.sliceBy;
  }
  const filters: SeriesFilter[] = [];
  const given = raw.filter === undefined ? [] : Array.isArray(raw.filter) ? raw.filter : [raw.filter];
  if (given.length > MAX_FILTER_VALUES) throw new MetricQueryError('filter', `at most ${MAX_FILTER_VALUES} values`);
  for (const f of given) {
    const at = typeof f === 'string' ? f.indexOf(':') : -1;
    const dimension = at > 0 ? f.slice(0, at) : '';
    const value = at > 0 ? f.slice(at + 1) : '';
    if (!isDimension(dimension))
      throw new MetricQueryError('filter', `must be dimension:value with a dimension among ${DIMENSIONS.join(', ')}`);
    if (value === '' || value.length > 200)
      throw new MetricQueryError('filter', 'the value after the dimension must be 1 to 200 characters');
    let filter = filters.find((x) => x.dimension === dimension);
    if (!filter) filters.push((filter = { dimension, values: [] }));
    if (!filter.values.includes(value)) filter.values.push(value);
  }
  if ((METRICS[metric] as MetricDefinition).unsliced) {
    if (sliceBy) throw new MetricQueryError('sliceBy', `${metric} is a figure of the whole customer base: it has no slices`);
    if (filters.length > 0) throw new MetricQueryError('filter', `${metric} is a figure of the whole customer base: it has no filters`);
  }
  const segmentFilter = filters.find((f) => f.dimension === SEGMENT_ID);
  if (segmentFilter && segmentFilter.values.length > 1 && sliceBy !== SEGMENT_ID) {
    // a customer may be in several segments at once: a sum of their rows would count its events twice
    throw new MetricQueryError(
      'filter',
      `one ${SEGMENT_ID} per series (segments overlap); sliceBy=${SEGMENT_ID} with several ${SEGMENT_ID} filters gives one series per segment`,
    );
  }
  const dimensions = [...new Set([...(sliceBy ? [sliceBy] : []), ...filters.map((f) => f.dimension)])];
  if (dimensions.length > 1) {
    const pairs = DIMENSION_PAIRS.map(pairName).join(', ');
    if (dimensions.length > 2 || !pairOf(dimensions[0], dimensions[1]))
      throw new MetricQueryError('filter', `${dimensions.join(', ')} cannot be combined in one series; the combinable pairs: ${pairs}`);
  }
  return { metric, bucket, from, to, timeZone, sliceBy, filters };
}
