import type { LoggerService } from '@nestjs/common';
import type { EventBus } from '@nestjs/cqrs';
import type { ControlledTransaction, Kysely } from 'kysely';
import { upcast, type EventMetadata } from '@cem/domain';
import type { EventStore, RecordedEvent, Subscription } from '@cem/event-store';
import { directSqlOf } from '../store/direct-sql';
import type { ReadModelsDb } from '../store/read-models-db';
import { readCheckpoints, writeCheckpoint } from './checkpoints';
import { ProjectedEvent, type ProjectedRecord } from './projected-event';
import { ProjectionBatch, type Projection } from './projection';

export const DEFAULT_BATCH_SIZE = 5_000;
/** batches per transaction while catching up (see ProjectorOptions.batchesPerTransaction) */
export const DEFAULT_BATCHES_PER_TRANSACTION = 20;

export type ProjectorStatus = 'stopped' | 'catching-up' | 'live' | 'retrying';

export interface BatchProjected {
  /** checkpoint after the batch */
  position: number;
  events: number;
  durationMs: number;
  /** when the store recorded the batch's last event (for lag in seconds) */
  lastRecordedAt: string;
}

export interface ProjectorOptions {
  store: EventStore;
  db: Kysely<ReadModelsDb>;
  eventBus: EventBus;
  projections: readonly Projection[];
  /**
   * most events handed to the projections at once (default 5,000): each customer a batch touches
   * is loaded once and written once for all its events. Live, a batch is whatever arrived since the
   * last one (a few events).
   */
  batchSize?: number;
  /**
   * Catching up, the transaction stays open over up to this many full batches (default 20, so
   * 100,000 events) before it commits with the checkpoint: SQLite then writes each page that many
   * batches changed once instead of once per batch (the page writes of the commits were the largest
   * cost of a rebuild). Memory stays bounded by one batch plus SQLite's page cache. A batch shorter
   * than `batchSize` means the head is reached: it commits at once, so live latency is one batch.
   */
  batchesPerTransaction?: number;
  logger?: LoggerService;
  onBatch?: (info: BatchProjected) => void;
  /** first retry delay after a failed batch; doubles up to 30 s */
  retryDelayMs?: number;
}

interface Waiter {
  position: number;
  resolve: (reached: boolean) => void;
  timer?: NodeJS.Timeout;
}

export const toProjectedRecord = (e: RecordedEvent): ProjectedRecord => {
  const metadata = e.metadata as unknown as EventMetadata;
  const { data } = upcast(e.type, metadata.schemaVersion ?? 1, e.data);
  return { position: e.position, eventId: e.eventId, type: e.type, streamId: e.streamId, revision: e.revision, data, metadata, recordedAt: e.recordedAt };
};

/**
 * The checkpointed projector: a catch-up subscription to the global log from the lowest stored
 * checkpoint. Each batch is one read-store transaction: every projection loads what the batch
 * touches, every event is published on the @nestjs/cqrs EventBus and its handlers are awaited
 * (AwaitingEventPublisher), then the projections write and store their checkpoints. A crash at
 * any point leaves the read models and checkpoints of the last committed batch: restarting
 * projects the rest, with the same result as an uninterrupted run.
 */
export class Projector {
  private status_: ProjectorStatus = 'stopped';
  private position_ = 0;
  private lastRecordedAt_: string | null = null;
  private caughtUpOnce = false;
  private checkpoints = new Map<string, number>();
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private stopping = false;
  private waiters: Waiter[] = [];
  private failures = 0;
  private lastError?: string;
  private readonly batchSize: number;
  private readonly transactionEvents: number;
  /** the transaction of the batches projected since the last commit (catching up only) */
  private open?: { trx: ControlledTransaction<ReadModelsDb>; events: number; last: number; lastRecordedAt: string; started: number; projections: Set<Projection> };

  constructor(private readonly options: ProjectorOptions) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.transactionEvents = this.batchSize * Math.max(1, options.batchesPerTransaction ?? DEFAULT_BATCHES_PER_TRANSACTION);
  }

  /** Position of the last event every projection has handled. */
  get position(): number {
    return this.position_;
  }

  get status(): ProjectorStatus {
    return this.status_;
  }

  /** true once the projector has reached the head of the log at least once since start */
  get hasCaughtUp(): boolean {
    return this.caughtUpOnce;
  }

  get lastRecordedAt(): string | null {
    return this.lastRecordedAt_;
  }

  get health(): { status: ProjectorStatus; position: number; failures: number; lastError?: string } {
    return { status: this.status_, position: this.position_, failures: this.failures, lastError: this.lastError };
  }

  async start(): Promise<void> {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.subscription?.close();
    await this.loop;
    this.loop = undefined;
    this.status_ = 'stopped';
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(this.position_ >= w.position);
    }
  }

  /**
   * Resolves true once every projection has handled the event at `position` (e.g. the position an
   * ingest call returned), false when `timeoutMs` passes first. Tests and the API wait on this,
   * never on sleeps.
   */
  whenCaughtUp(position: number, timeoutMs = 30_000): Promise<boolean> {
    if (this.position_ >= position) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = { position, resolve };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves once the projector has reached the head of the log as it is now. */
  async whenCaughtUpToHead(timeoutMs = 30_000): Promise<boolean> {
    return this.whenCaughtUp(await this.options.store.headPosition(), timeoutMs);
  }

  private async run(): Promise<void> {
    let delay = this.options.retryDelayMs ?? 500;
    while (!this.stopping) {
      try {
        this.checkpoints = await readCheckpoints(this.options.db, this.options.projections.map((p) => p.projectionName));
        const from = Math.min(...this.checkpoints.values());
        this.advance(from, null);
        this.status_ = 'catching-up';
        this.subscription = this.options.store.subscribeToAll({ after: from, batchSize: this.batchSize });
        for await (const message of this.subscription) {
          if (this.stopping) break;
          if (message.type === 'events') {
            if (message.events.length > 0) await this.project(message.events);
            // a short batch: nothing more to read right now, so make what was projected visible
            if (message.events.length < this.batchSize) await this.commit();
          } else {
            await this.commit();
            this.caughtUpOnce = true;
            this.status_ = 'live';
            this.advance(Math.max(this.position_, message.position), null);
          }
          this.failures = 0;
          delay = this.options.retryDelayMs ?? 500;
        }
        // stopped: what was projected is consistent (checkpoint included), keep it
        await this.commit();
        return;
      } catch (e) {
        await this.rollback();
        if (this.stopping) return;
        this.failures++;
        this.lastError = (e as Error)?.name ?? 'Error';
        this.status_ = 'retrying';
        // the error's message may quote event data (personal data): log its kind and where only
        this.options.logger?.error?.({ msg: 'projection batch failed; retrying from the checkpoint', error: this.lastError, after: this.position_, failures: this.failures, retryInMs: delay });
        await this.subscription?.close().catch(() => undefined);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  private async project(events: RecordedEvent[]): Promise<void> {
    const started = performance.now();
    const records = events.map(toProjectedRecord);
    const last = records[records.length - 1].position;
    const lastRecordedAt = records[records.length - 1].recordedAt;
    const active = this.options.projections.filter((p) => (this.checkpoints.get(p.projectionName) ?? 0) < last);
    if (active.length === 0 && !this.open) {
      this.advance(last, lastRecordedAt);
      this.options.onBatch?.({ position: last, events: records.length, durationMs: performance.now() - started, lastRecordedAt });
      return;
    }
    // checkpoints stay at their committed values while the transaction is open: every event of a
    // later batch is past them, and a rollback leaves them right
    this.open ??= { trx: await this.options.db.startTransaction().execute(), events: 0, last, lastRecordedAt, started, projections: new Set() };
    const { trx } = this.open;
    const sql = directSqlOf(this.options.db);
    const states = new Map<string, unknown>();
    for (const p of active) {
      const checkpoint = this.checkpoints.get(p.projectionName) ?? 0;
      states.set(p.projectionName, await p.beginBatch(trx, records.filter((r) => r.position > checkpoint), sql));
    }
    const batch = new ProjectionBatch(trx, this.checkpoints, states);
    for (const record of records) await this.options.eventBus.publish(new ProjectedEvent(record, batch));
    for (const p of active) {
      await p.commitBatch(trx, states.get(p.projectionName), sql);
      await writeCheckpoint(trx, p.projectionName, last);
      this.open.projections.add(p);
    }
    this.open.events += records.length;
    this.open.last = last;
    this.open.lastRecordedAt = lastRecordedAt;
    if (this.open.events >= this.transactionEvents) await this.commit();
  }

  /** Commits the open transaction (read models and checkpoints), then tells waiters. */
  private async commit(): Promise<void> {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    try {
      await open.trx.commit().execute();
    } catch (e) {
      await open.trx.rollback().execute().catch(() => undefined);
      throw e;
    }
    for (const p of open.projections) this.checkpoints.set(p.projectionName, open.last);
    this.advance(open.last, open.lastRecordedAt);
    this.options.onBatch?.({ position: open.last, events: open.events, durationMs: performance.now() - open.started, lastRecordedAt: open.lastRecordedAt });
  }

  private async rollback(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    await open?.trx.rollback().execute().catch(() => undefined);
  }

  private advance(position: number, lastRecordedAt: string | null): void {
    if (position > this.position_ || this.position_ === 0) this.position_ = position;
    if (lastRecordedAt) this.lastRecordedAt_ = lastRecordedAt;
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.position <= this.position_) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else still.push(w);
    }
    this.waiters = still;
  }
}
