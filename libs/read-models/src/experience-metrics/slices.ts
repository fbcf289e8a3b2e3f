/** What a metric can be sliced and filtered by. */
export const DIMENSIONS = ['channel', 'source', 'segment', 'agent', 'category'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export const isDimension = (value: string): value is Dimension => (DIMENSIONS as readonly string[]).includes(value);

/** The slice value of an event without one (no agent, no case category). */
export const NO_VALUE = '(none)';

/** The slice values of one event or case. */
export type SliceValues = Record<Dimension, string>;

/** Rows of the unsliced totals use this dimension and slice. */
export const ALL_DIMENSION = 'all';
export const ALL_SLICE = '*';
