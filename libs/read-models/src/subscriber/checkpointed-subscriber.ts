import type { EventStore, RecordedEvent, Subscription } from '@cem/event-store';

export type SubscriberStatus = 'stopped' | 'catching-up' | 'live' | 'retrying' | 'held';

/**
 * Thrown by a worker's open() when it must not advance for now (a read model whose stored copy was
 * projected by another version of its code: the old copy keeps serving until a blue/green rebuild
 * switches). The subscriber then stays `held` (not a failure: no back-off, no error log) and calls
 * open() again every `holdRecheckMs`, resuming as soon as it succeeds.
 */
export class WorkerHeld extends Error {
  constructor(
    /** why, as a status word for health (e.g. `rebuild-needed`) */
    readonly reason: string,
    message: string,
    /** what health shows with it (no personal data) */
    readonly detail: Record<string, unknown> = {},
    /** the position the worker's committed state stands at (its effects stay as they are) */
    readonly position?: number,
  ) {
    super(message);
    this.name = 'WorkerHeld';
  }
}

/**
 * What a checkpointed subscriber drives: one worker of the log (a read model's lane, the signals
 * publisher, later the scheduler or the audit chain). The worker owns its checkpoint and commits it
 * together with the effects of the events it covers (one transaction, or after the broker's ack).
 */
export interface CheckpointedWorker {
  /** the worker's name, for logs and health */
  readonly name: string;
  /** prepares a (re)start and returns the committed checkpoint: the subscription resumes after it */
  open(): Promise<number>;
  /**
   * Handles a batch, in log order. Returns the position now committed with its effects, or
   * undefined when the worker keeps the batch in an open transaction for now. `headReached`: the
   * batch was short, nothing more to read right now (commit, so it becomes visible). `contended`:
   * another worker waits for the same store.
   */
  handle(events: readonly RecordedEvent[], hint: { headReached: boolean }): Promise<number | undefined>;
  /** commits whatever is open (caught up, stopping); returns the committed position if it moved */
  flush(): Promise<number | undefined>;
  /** a batch failed: discard what is not committed (the subscriber restarts from the checkpoint) */
  abort(): Promise<void>;
}

export interface CheckpointedSubscriberOptions {
  /** events per batch read from the log (default 5,000) */
  batchSize?: number;
  /** first retry delay after a failure; doubles up to `maxRetryDelayMs` */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  logger?: { error?(message: unknown, ...rest: unknown[]): unknown };
  /** after each commit (metrics) */
  onCommit?: (info: { position: number; events: number; durationMs: number }) => void;
  /** while the worker is held (WorkerHeld), how often open() is tried again (default 2 s) */
  holdRecheckMs?: number;
  /** called once when the worker becomes held (not again for each recheck) */
  onHeld?: (held: WorkerHeld) => void;
}

export const DEFAULT_SUBSCRIBER_BATCH_SIZE = 5_000;

interface Waiter {
  position: number;
  resolve: (reached: boolean) => void;
  timer?: NodeJS.Timeout;
}

/**
 * The one catch-up subscription loop of the platform: subscribes to the global log after the
 * worker's checkpoint, hands it batches, follows the log live, and on any failure discards what
 * is uncommitted and starts again from the stored checkpoint after a capped exponential back-off.
 * `whenCaughtUp(position)` resolves once the worker has committed `position` (tests and the API
 * wait on it, never on sleeps).
 */
export class CheckpointedSubscriber {
  private status_: SubscriberStatus = 'stopped';
  private position_ = 0;
  private caughtUpOnce = false;
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private stopping = false;
  /** ends a back-off sleep early: stop() must not wait out a retry delay of up to maxRetryDelayMs */
  private wakeFromBackoff?: () => void;
  private waiters: Waiter[] = [];
  private failures_ = 0;
  private lastError_?: string;
  private pending = { events: 0, since: 0 };
  private held_?: WorkerHeld;
  readonly batchSize: number;

  constructor(
    private readonly store: Pick<EventStore, 'subscribeToAll' | 'headPosition'>,
    readonly worker: CheckpointedWorker,
    private readonly options: CheckpointedSubscriberOptions = {},
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_SUBSCRIBER_BATCH_SIZE;
  }

  /** Position of the last event the worker has committed. */
  get position(): number {
    return this.position_;
  }

  get status(): SubscriberStatus {
    return this.status_;
  }

  /** true once the worker has reached the head of the log at least once since start */
  get hasCaughtUp(): boolean {
    return this.caughtUpOnce;
  }

  /** why the worker is held (status `held`), else undefined */
  get held(): WorkerHeld | undefined {
    return this.status_ === 'held' ? this.held_ : undefined;
  }

  get health(): {
    name: string;
    status: SubscriberStatus;
    position: number;
    failures: number;
    lastError?: string;
    held?: { reason: string; message: string; detail: Record<string, unknown> };
  } {
    const held = this.held;
    return {
      name: this.worker.name,
      status: this.status_,
      position: this.position_,
      failures: this.failures_,
      lastError: this.lastError_,
      ...(held ? { held: { reason: held.reason, message: held.message, detail: held.detail } } : {}),
    };
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeFromBackoff?.();
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
   * Resolves true once the worker has committed `position`, false when `timeoutMs` passes first, or
   * at once while the worker is held (it will not get there before an operator acts).
   */
  whenCaughtUp(position: number, timeoutMs = 30_000): Promise<boolean> {
    if (this.position_ >= position) return Promise.resolve(true);
    if (this.status_ === 'held') return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = { position, resolve };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves once the worker has reached the head of the log as it is now. */
  async whenCaughtUpToHead(timeoutMs = 30_000): Promise<boolean> {
    return this.whenCaughtUp(await this.store.headPosition(), timeoutMs);
  }

  private async run(): Promise<void> {
    const firstDelay = this.options.retryDelayMs ?? 500;
    let delay = firstDelay;
    while (!this.stopping) {
      try {
        let from: number;
        try {
          from = await this.worker.open();
        } catch (e) {
          if (!(e instanceof WorkerHeld)) throw e;
          await this.hold(e);
          continue;
        }
        this.held_ = undefined;
        this.advance(from, true);
        this.status_ = 'catching-up';
        this.subscription = this.store.subscribeToAll({ after: from, batchSize: this.batchSize });
        for await (const message of this.subscription) {
          if (this.stopping) break;
          if (message.type === 'events') {
            if (message.events.length > 0) {
              if (this.pending.events === 0) this.pending.since = performance.now();
              this.pending.events += message.events.length;
              this.committed(await this.worker.handle(message.events, { headReached: message.events.length < this.batchSize }));
            }
          } else {
            this.committed(await this.worker.flush());
            this.caughtUpOnce = true;
            this.status_ = 'live';
            // every event up to here was delivered (and so committed): a filtered tail moves the position too
            this.advance(message.position);
          }
          this.failures_ = 0;
          delay = firstDelay;
        }
        // stopped: what was handled is consistent (checkpoint included), keep it
        this.committed(await this.worker.flush());
        return;
      } catch (e) {
        await this.worker.abort().catch(() => undefined);
        this.pending.events = 0;
        if (this.stopping) return;
        this.failures_++;
        this.lastError_ = (e as Error)?.name ?? 'Error';
        this.status_ = 'retrying';
        // the error's message may quote event data (personal data): log its kind and where only
        this.options.logger?.error?.({
          msg: 'batch failed; retrying from the checkpoint',
          worker: this.worker.name,
          error: this.lastError_,
          after: this.position_,
          failures: this.failures_,
          retryInMs: delay,
        });
        await this.subscription?.close().catch(() => undefined);
        await new Promise<void>((wake) => {
          if (this.stopping) return wake(); // stop() came while the subscription was closing
          const timer = setTimeout(wake, delay);
          this.wakeFromBackoff = () => {
            clearTimeout(timer);
            wake();
          };
        });
        this.wakeFromBackoff = undefined;
        delay = Math.min(delay * 2, this.options.maxRetryDelayMs ?? 30_000);
      }
    }
  }

  /** held: answers waiters false, then waits (wakeable by stop) before open() is tried again */
  private async hold(held: WorkerHeld): Promise<void> {
    const first = this.status_ !== 'held' || this.held_?.message !== held.message;
    this.held_ = held;
    this.status_ = 'held';
    if (held.position !== undefined) this.position_ = held.position;
    if (first) this.options.onHeld?.(held);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(this.position_ >= w.position);
    }
    await new Promise<void>((wake) => {
      if (this.stopping) return wake();
      const timer = setTimeout(wake, this.options.holdRecheckMs ?? 2_000);
      this.wakeFromBackoff = () => {
        clearTimeout(timer);
        wake();
      };
    });
    this.wakeFromBackoff = undefined;
  }

  private committed(position: number | undefined): void {
    if (position === undefined) return;
    this.options.onCommit?.({ position, events: this.pending.events, durationMs: performance.now() - this.pending.since });
    this.pending.events = 0;
    this.advance(position);
  }

  private advance(position: number, restart = false): void {
    // a restart resumes from the stored checkpoint (0 again when a read model is rebuilt)
    if (position > this.position_ || restart) this.position_ = position;
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
