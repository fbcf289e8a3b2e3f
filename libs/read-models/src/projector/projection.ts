import type { Transaction } from 'kysely';
import { PLAIN_IDENTIFIER_INDEX, type IdentifierIndex } from '@cem/domain';
import type { EventStore } from '@cem/event-store';
import { EncryptingEventStore, PLAIN_STORED_VALUES, type StoredValues } from '@cem/privacy';
import type { DirectSql } from '../store/direct-sql';
import type { CustomerHistory } from '../kit/customer-states';
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
   * Set when the projection's output also depends on its configuration (e.g. milestone
   * definitions): the version its rows are checkpointed with instead of the read model's. A
   * configuration change then changes it, and the lane rebuilds the read model from position 0.
   */
  readonly configuredVersion?: number;
  /**
   * loads what the batch will touch (a few queries per batch, not per event); `sql` runs prepared
   * statements inside `trx` (the hot path, without query-builder overhead)
   */
  beginBatch(trx: Transaction<Tables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<S>;
  /** writes the batch's changes; the lane then stores the checkpoint in the same transaction */
  commitBatch(trx: Transaction<Tables>, state: S, sql: DirectSql): Promise<void>;
  /**
   * Optional: writes what the projection carried over the batches of `trx` instead of writing it
   * per batch (rows many batches add to, written once per transaction: while catching up a
   * transaction spans up to 20 batches). The lane calls it just before it commits `trx`, in `trx`.
   * A transaction that is rolled back never gets here: the projection must drop what it carried
   * for it (keying it by `trx` does that: the next batch comes in another transaction).
   */
  beforeCommit?(trx: Transaction<Tables>, sql: DirectSql): Promise<void>;
}

/** What a projection may inject (token PROJECTION_CONTEXT) to read its configuration. */
export interface ProjectionContext {
  /** the deployment's data directory, where configuration files such as milestones.json live; absent in some tests */
  dataDir?: string;
  /** reads a customer's log (its stream and those merged into it): the kit refolds the customers of an unmerge from it */
  history?: CustomerHistory;
  /** how identifiers are keyed in an identifier index (the blind index when privacy is on); absent: plain */
  identifierIndex?: IdentifierIndex;
  /** how identifiers are stored (sealed with the customer's key when privacy is on); absent: plain */
  storedValues?: StoredValues;
}
export const PROJECTION_CONTEXT = Symbol('PROJECTION_CONTEXT');

/** The batch being projected for one read model: its transaction and state. */
export class ProjectionBatch {
  constructor(
    readonly trx: Transaction<any>,
    /** the read model whose lane projects the batch: only its projection's handler gets the events */
    readonly projectionName: string,
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

/**
 * The identifier index of the log the read models are fed from: the blind index when the log is
 * encrypted (privacy on; EncryptingEventStore carries it), else plain `kind:value`. Taken from the
 * store so that every projector, rebuild and query over the same log keys identifiers alike.
 */
export const identifierIndexOfStore = (store: EventStore): IdentifierIndex =>
  store instanceof EncryptingEventStore ? store.identifierIndex : PLAIN_IDENTIFIER_INDEX;

/**
 * How the read models store the identifiers of the log they are fed from: sealed with the customer's
 * data key when the log is encrypted, else in plain. Taken from the store like the identifier index.
 */
export const storedValuesOfStore = (store: EventStore): StoredValues =>
  store instanceof EncryptingEventStore ? store.storedValues : PLAIN_STORED_VALUES;
