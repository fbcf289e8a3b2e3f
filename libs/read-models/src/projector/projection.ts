import type { Transaction } from 'kysely';
import type { DirectSql } from '../store/direct-sql';
import type { ProjectedRecord } from './projected-record';

/**
 * The projection of one read model. Its event handler (an @EventsHandler(ProjectedEvent)) folds
 * each event into batch-scoped state; the read model's lane of the projector opens the batch and
 * commits it, with the read model's checkpoint, in one read-store transaction. `Tables` is the
 * read model's own slice of the store's schema.
 */
export interface Projection<S = unknown, Tables = any> {
  /** the read model's name: the key of its checkpoint */
  readonly projectionName: string;
  /**
   * loads what the batch will touch (a few queries per batch, not per event); `sql` runs prepared
   * statements inside `trx` (the hot path, without query-builder overhead)
   */
  beginBatch(trx: Transaction<Tables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<S>;
  /** writes the batch's changes; the lane then stores the checkpoint in the same transaction */
  commitBatch(trx: Transaction<Tables>, state: S, sql: DirectSql): Promise<void>;
}

/** The batch being projected for one read model: its transaction and state. */
export class ProjectionBatch {
  constructor(
    readonly trx: Transaction<any>,
    private readonly projectionName: string,
    private readonly checkpoint: number,
    private readonly state: unknown,
  ) {}

  /**
   * The state of `projection` for an event at `position`; undefined when the batch belongs to
   * another read model's lane, or when the projection has already handled that position (its
   * checkpoint is at or past it): handled twice = handled once.
   */
  stateFor<S>(projection: Projection<S, any>, position: number): S | undefined {
    if (projection.projectionName !== this.projectionName || position <= this.checkpoint) return undefined;
    return this.state as S;
  }
}
