/** The dimensions an event has exactly one value of (`segment` is the value segment). */
export const VALUE_DIMENSIONS = ['channel', 'source', 'segment', 'agent', 'category'] as const;
export type ValueDimension = (typeof VALUE_DIMENSIONS)[number];

/**
 * Analyst-defined segments (docs/segments.md), by id: an event has one value per segment its
 * customer was in at the event's occurredAt (segment.entered / segment.left), and none when it was
 * in none. The values of one event overlap: a series per segment id, never a sum of several.
 */
export const SEGMENT_ID = 'segmentId';

/** What a metric can be sliced and filtered by. */
export const DIMENSIONS = [...VALUE_DIMENSIONS, SEGMENT_ID] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export const isDimension = (value: string): value is Dimension => (DIMENSIONS as readonly string[]).includes(value);

/** The slice value of an event without one (no agent, no case category). */
export const NO_VALUE = '(none)';

/** The slice values of one event or case: one per value dimension, and the analyst segments it counts in (sorted). */
export type SliceValues = Record<ValueDimension, string> & { segmentIds: readonly string[] };

/** Rows of the unsliced totals use this dimension and slice. */
export const ALL_DIMENSION = 'all';
export const ALL_SLICE = '*';

/**
 * The pairs of dimensions one series may combine (slice by one and filter on the other, or filter
 * on both): the projection keeps rows per pair too, for these pairs only (each pair adds a row per
 * event and granularity). The pair's rows have the dimension `channel+segment` and the slice
 * `["phone","high"]` (JSON: any value may hold any character).
 */
export const DIMENSION_PAIRS: readonly (readonly [ValueDimension, ValueDimension])[] = [['channel', 'segment']];

export const pairName = (pair: readonly [Dimension, Dimension]): string => pair.join('+');

/** The supported pair holding both dimensions, whatever their order. */
export const pairOf = (a: Dimension, b: Dimension): readonly [Dimension, Dimension] | undefined =>
  DIMENSION_PAIRS.find(([x, y]) => (x === a && y === b) || (x === b && y === a));

export const pairSlice = (values: readonly [string, string]): string => JSON.stringify(values);
