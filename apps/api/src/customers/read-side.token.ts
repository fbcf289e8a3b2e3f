/** Injection token of the ReadSide (libs/read-models) the query API reads from. */
export const READ_SIDE = Symbol('READ_SIDE');
