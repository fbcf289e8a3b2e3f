import type { LoggerService } from '@nestjs/common';
import type { EventBus } from '@nestjs/cqrs';
import type { Kysely } from 'kysely';
import { upcast, type EventMetadata } from '@cem/domain';
import type { EventStore, RecordedEvent, Subscription } from '@cem/event-store';
import { directSqlOf } from '../store/direct-sql';
import type { ReadModelsDb } from '../store/read-models-db';
import { readCheckpoints, writeCheckpoint } from './checkpoints';
import { ProjectedEvent, type ProjectedRecord } from './projected-event';
import { ProjectionBatch, type Projection } from './projection';

export const DEFAULT_BATCH_SIZE = 20_000;

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
   * most events per transaction (default 20,000). Catching up, every batch is this size, so each
   * customer row a batch touches is written once for all its events; live, a batch is whatever
   * arrived since the last one (a few events), so latency stays low.
   */
  batchSize?: number;
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

  constructor(private readonly options: ProjectorOptions) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
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
          } else {
            this.caughtUpOnce = true;
            this.status_ = 'live';
            this.advance(Math.max(this.position_, message.position), null);
          }
          this.failures = 0;
          delay = this.options.retryDelayMs ?? 500;
        }
        return;
      } catch (e) {
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
    const active = this.options.projections.filter((p) => (this.checkpoints.get(p.projectionName) ?? 0) < last);
    if (active.length > 0) {
      const sql = directSqlOf(this.options.db);
      await this.options.db.transaction().execute(async (trx) => {
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
        }
      });
      for (const p of active) this.checkpoints.set(p.projectionName, last);
    }
    const lastRecordedAt = records[records.length - 1].recordedAt;
    this.advance(last, lastRecordedAt);
    this.options.onBatch?.({ position: last, events: records.length, durationMs: performance.now() - started, lastRecordedAt });
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
