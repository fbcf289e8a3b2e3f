import type { Transaction } from 'kysely';
import type { DirectSql } from '../store/direct-sql';
import type { ReadModelsDb } from '../store/read-models-db';
import type { ProjectedRecord } from './projected-record';

/**
 * A read model fed by the projector. Its event handler (an @EventsHandler(ProjectedEvent)) folds
 * each event into batch-scoped state; the projector opens the batch and commits it, together with
 * every projection's checkpoint, in one read-store transaction.
 */
export interface Projection<S = unknown> {
  /** stable name: the key of its checkpoint */
  readonly projectionName: string;
  /** the tables it owns, in the order a rebuild empties them */
  readonly tables: readonly (keyof ReadModelsDb & string)[];
  /**
   * loads what the batch will touch (a few queries per batch, not per event); `sql` runs prepared
   * statements inside `trx` (the hot path, without query-builder overhead)
   */
  beginBatch(trx: Transaction<ReadModelsDb>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<S>;
  /** writes the batch's changes; the projector then stores the checkpoint in the same transaction */
  commitBatch(trx: Transaction<ReadModelsDb>, state: S, sql: DirectSql): Promise<void>;
}

/** The batch being projected: its transaction and each projection's state and checkpoint. */
export class ProjectionBatch {
  constructor(
    readonly trx: Transaction<ReadModelsDb>,
    private readonly checkpoints: ReadonlyMap<string, number>,
    private readonly states: ReadonlyMap<string, unknown>,
  ) {}

  /**
   * The state of `projection` for an event at `position`, or undefined when the projection has
   * already handled that position (its checkpoint is at or past it): handled twice = handled once.
   */
  stateFor<S>(projection: Projection<S>, position: number): S | undefined {
    if (position <= (this.checkpoints.get(projection.projectionName) ?? 0)) return undefined;
    return this.states.get(projection.projectionName) as S | undefined;
  }
}
