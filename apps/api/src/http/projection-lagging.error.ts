/** A read-your-writes wait that timed out: the read model has not reached the asked position yet. */
export class ProjectionLaggingError extends Error {
  constructor(
    readonly readModel: string,
    readonly position: number,
  ) {
    super(`the ${readModel} read model has not reached position ${position} yet; retry shortly`);
    this.name = 'ProjectionLaggingError';
  }
}

/** seconds a client should wait before asking again */
export const PROJECTION_LAGGING_RETRY_AFTER_S = 1;
