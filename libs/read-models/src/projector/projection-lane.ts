import type { EventBus } from '@nestjs/cqrs';
import type { ControlledTransaction, Kysely } from 'kysely';
import { upcast, type EventMetadata } from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import type { ReadModel } from '../kit/read-model';
import { WorkerHeld, type CheckpointedWorker } from '../subscriber/checkpointed-subscriber';
import { directSqlOf } from '../store/direct-sql';
import { claimCheckpoint, readCheckpoint, resetProjection, writeCheckpoint } from './checkpoints';
import { ProjectedEvent } from './projected-event';
import type { ProjectedRecord } from './projected-record';
import { ProjectionBatch, type Projection } from './projection';

/** batches per transaction while catching up (see ProjectionLaneOptions.batchesPerTransaction) */
export const DEFAULT_BATCHES_PER_TRANSACTION = 20;

/**
 * The lanes of one read store share its single write connection (SQLite has one writer; Kysely
 * queues transactions on the connection). A lane that holds a long catching-up transaction
 * commits at its next batch boundary when a live lane waits (one that has reached the head of the
 * log since it started), so a rebuild never holds a live read model back for more than one batch.
 * A lane that has not reached the head yet (rebuilding, or catching up after a start) waits for the
 * holder's transaction to fill instead: read models rebuilt together then take turns of whole
 * transactions, not of one batch each (which made every lane commit, and SQLite write the pages it
 * changed, after every batch).
 */
export class WriteTurns {
  /** lanes waiting for the connection */
  waiting = 0;
  /** of those, the ones a holder commits early for: live lanes, and waits for something else than a batch */
  urgent = 0;
}

/**
 * What a lane does when the stored copy of its read model was projected by another version of the
 * code (a new release, a changed configuration that is part of the version):
 * - `hold` (the platform's default): the lane does not advance; the old copy keeps serving reads as
 *   it is, health says `rebuild-needed` with both versions, and the lane resumes once a blue/green
 *   rebuild (`cem rebuild`, run with this code) switched in a copy of this version;
 * - `rebuild-in-place`: the lane empties the tables and projects them again from position 0 (the
 *   read model answers from a partial copy until it has caught up).
 * A copy at position 0 (never projected anything) just takes the new version either way.
 */
export type VersionChangePolicy = 'hold' | 'rebuild-in-place';

/** The reason a lane is held (WorkerHeld.reason): its stored copy was projected by another version. */
export const REBUILD_NEEDED = 'rebuild-needed';

export interface ProjectionLaneOptions {
  /** see VersionChangePolicy (default `hold`) */
  onVersionChange?: VersionChangePolicy;
  /** full batches one catching-up transaction spans before it commits (default 20) */
  batchesPerTransaction?: number;
  batchSize: number;
  logger?: { log?(message: unknown): unknown };
  /** run after a commit that projected an erasure (the read store scrubs what it keeps of old pages, see ReadStore.afterErasure) */
  afterErasure?: () => Promise<void>;
}

/** The log record as projections see it: payload upcast to its latest version, typed by the catalogue. */
export const toProjectedRecord = (e: RecordedEvent): ProjectedRecord => {
  const metadata = e.metadata as unknown as EventMetadata;
  const { data } = upcast(e.type, metadata.schemaVersion ?? 1, e.data);
  return {
    position: e.position,
    eventId: e.eventId,
    type: e.type,
    streamId: e.streamId,
    revision: e.revision,
    data,
    metadata,
    recordedAt: e.recordedAt,
  } as ProjectedRecord;
};

/**
 * The records of a page of the log, upcast once for every lane that projects the same page (the
 * lanes catching up share the page's array, see SharedLogPages); held only while the page is.
 */
const recordsOfPage = new WeakMap<readonly RecordedEvent[], readonly ProjectedRecord[]>();
const projectedRecordsOf = (events: readonly RecordedEvent[]): readonly ProjectedRecord[] => {
  let records = recordsOfPage.get(events);
  if (!records) recordsOfPage.set(events, (records = events.map(toProjectedRecord)));
  return records;
};

/**
 * One read model's lane of the projector: a worker of its own checkpointed subscription. Each
 * batch is projected in a read-store transaction with the read model's checkpoint: the projection
 * loads what the batch touches, every event is published on the @nestjs/cqrs EventBus and its
 * handler awaited, then the projection writes. Catching up, the transaction spans up to
 * `batchesPerTransaction` full batches (SQLite then writes each page once per transaction instead
 * of once per batch); a short batch (head reached), the caught-up signal, stop, or another lane
 * waiting commits at once. A crash leaves the tables and checkpoint of the last commit.
 */
export class ProjectionLane implements CheckpointedWorker {
  readonly name: string;
  private checkpoint = 0;
  /** whether this lane has reached the head of the log since it started (see WriteTurns) */
  private reachedHead = false;
  private transaction?: { trx: ControlledTransaction<any>; events: number; last: number; erasure: boolean };
  private readonly transactionEvents: number;

  constructor(
    private readonly model: ReadModel,
    private readonly projection: Projection,
    private readonly db: Kysely<any>,
    private readonly eventBus: EventBus,
    private readonly turns: WriteTurns,
    private readonly options: ProjectionLaneOptions,
  ) {
    this.name = model.name;
    this.transactionEvents = options.batchSize * Math.max(1, options.batchesPerTransaction ?? DEFAULT_BATCHES_PER_TRANSACTION);
  }

  async open(): Promise<number> {
    const stored = await this.queued(() => readCheckpoint(this.db, this.name));
    if (stored && stored.version !== this.version && stored.position > 0 && (this.options.onVersionChange ?? 'hold') === 'hold') {
      // the old copy keeps serving as it is; `cem rebuild` builds one of this version next to it
      throw new WorkerHeld(
        REBUILD_NEEDED,
        `the stored copy of ${this.name} was projected by version ${stored.version}, this code is version ${this.version}: rebuild needed (cem rebuild ${this.name}); the old copy keeps serving until the rebuild switches`,
        { liveVersion: stored.version, codeVersion: this.version },
        stored.position,
      );
    }
    if (stored && stored.version !== this.version) {
      this.options.logger?.log?.({
        msg: 'read model version changed: rebuilding from position 0',
        readModel: this.name,
        from: stored.version,
        to: this.version,
      });
      await this.queued(() => resetProjection(this.db, this.name, this.model.tables, this.version));
      this.checkpoint = 0;
    } else {
      this.checkpoint = stored?.position ?? 0;
    }
    return this.checkpoint;
  }

  async handle(events: readonly RecordedEvent[], hint: { headReached: boolean }): Promise<number | undefined> {
    const records = projectedRecordsOf(events);
    const last = records[records.length - 1].position;
    if (!this.transaction) {
      const trx = await this.queued(() => this.db.startTransaction().execute(), !this.reachedHead);
      this.transaction = { trx, events: 0, last: this.checkpoint, erasure: false };
      // fencing: the stored checkpoint must still be the one this lane committed, and stays locked
      // until the commit; a second projector writing the same store fails here and restarts from the
      // stored checkpoint instead of applying a batch twice
      await claimCheckpoint(trx, this.name, this.checkpoint, this.version);
    }
    const { trx } = this.transaction;
    const sql = directSqlOf(this.db, trx);
    const state = await this.projection.beginBatch(trx, records, sql);
    // the checkpoint stays at its committed value while the transaction is open: every event of a
    // later batch is past it, and a rollback leaves it right
    const batch = new ProjectionBatch(trx, this.name, this.checkpoint, state);
    for (const record of records) await this.eventBus.publish(new ProjectedEvent(record, batch));
    await this.projection.commitBatch(trx, state, sql);
    await writeCheckpoint(trx, this.name, last, this.version);
    this.transaction.events += records.length;
    if (records.some((r) => r.type === 'personal-data.erased')) this.transaction.erasure = true;
    this.transaction.last = last;
    if (hint.headReached) this.reachedHead = true;
    if (hint.headReached || this.transaction.events >= this.transactionEvents || this.turns.urgent > 0) return this.commit();
    return undefined;
  }

  /** the read model's version, or its projection's when that depends on configuration */
  private get version(): number {
    return this.projection.configuredVersion ?? this.model.version;
  }

  flush(): Promise<number | undefined> {
    // the subscriber flushes when it has caught up (or stops)
    this.reachedHead = true;
    return this.commit();
  }

  async abort(): Promise<void> {
    const open = this.transaction;
    this.transaction = undefined;
    await open?.trx
      .rollback()
      .execute()
      .catch(() => undefined);
  }

  private async commit(): Promise<number | undefined> {
    const open = this.transaction;
    if (!open) return undefined;
    this.transaction = undefined;
    try {
      if (this.projection.beforeCommit) await this.projection.beforeCommit(open.trx, directSqlOf(this.db, open.trx));
      await open.trx.commit().execute();
    } catch (e) {
      await open.trx
        .rollback()
        .execute()
        .catch(() => undefined);
      throw e;
    }
    this.checkpoint = open.last;
    if (open.erasure && this.options.afterErasure) await this.queued(this.options.afterErasure);
    return open.last;
  }

  /**
   * waits for the write connection, telling the lane that holds it to commit at its next batch
   * (unless `patient`: a lane that has not reached the head yet, see WriteTurns)
   */
  private async queued<T>(use: () => Promise<T>, patient = false): Promise<T> {
    this.turns.waiting++;
    if (!patient) this.turns.urgent++;
    try {
      return await use();
    } finally {
      this.turns.waiting--;
      if (!patient) this.turns.urgent--;
    }
  }
}
