import type { Logger } from '@cem/config';
import { deterministicUuid, type EventMetadata } from '@cem/domain';
import { EventIdConflictError, type EventStore } from '@cem/event-store';

/** One system event a scheduled job wants in the log. */
export interface ScheduledEvent {
  /** the stream it goes to, e.g. `customerStreamId(customerId)` */
  streamId: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  /**
   * What makes this fact unique, e.g. `[customerId, '3', 'high']` for "the 3rd band change of this
   * customer, to high". The event id is a name-based UUID of the job's name and these parts: the
   * same parts always give the same id, so a fact is appended at most once, whichever run, process
   * or restart computes it again.
   */
  idParts: readonly string[];
}

/** A job the scheduler runs every `intervalMs`. */
export interface ScheduledJob {
  /** stable name: part of every event id the job produces (changing it would re-announce everything) */
  readonly name: string;
  readonly intervalMs: number;
  /**
   * Waits until the state `evaluate` reads has handled `position` (the log head when the run
   * started); false after the timeout. With the read side: `(p, t) => readSide.whenCaughtUp(p, t, ['my-model'])`.
   * A run whose state is behind is skipped: evaluating stale state is what causes storms.
   */
  whenCaughtUp(position: number, timeoutMs: number): Promise<boolean>;
  /**
   * The events due as of `asOf` (epoch ms). Deterministic for the same projected state and `asOf`.
   * The job's read model must project the events it appends (e.g. "last band announced"), so that
   * a fact announced once is not due any more, also after a rebuild from position 0.
   */
  evaluate(asOf: number): Promise<ScheduledEvent[]>;
}

export interface ScheduledRun {
  job: string;
  asOf: number;
  /** false when the job's state did not catch up with the log in time (nothing evaluated) */
  evaluated: boolean;
  due: number;
  appended: number;
  /** already in the log (an earlier run, another process): nothing written */
  duplicates: number;
  /** due events left for the next run (more than `maxEventsPerRun`) */
  deferred: number;
}

export interface SystemEventSchedulerOptions {
  store: EventStore;
  jobs: readonly ScheduledJob[];
  now?: () => number;
  logger?: Logger;
  /** appended per run at most (the rest waits for the next run): bounds a run's time and write burst; default 5,000 */
  maxEventsPerRun?: number;
  /** how long a run waits for its job's state to catch up with the log; default 30 s */
  catchUpTimeoutMs?: number;
}

/** The id a scheduled event gets: the same job and parts, the same id. */
export const scheduledEventId = (job: string, idParts: readonly string[]): string => deterministicUuid('scheduled', job, ...idParts);

/**
 * Runs jobs that append system events on a timer (band changes, missed milestones, ...). Every
 * event id is deterministic (`scheduledEventId`), and the event store refuses a second copy of an
 * id, so overlapping runs, two processes or a restart never append a fact twice; a run waits for
 * its job's read model to reach the log head first, so a rebuild from 0 does not make it see
 * "new" facts that are in fact old ones still being projected.
 */
export class SystemEventScheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<ScheduledRun>>();
  private stopped = true;
  private readonly now: () => number;
  private readonly maxEventsPerRun: number;
  private readonly catchUpTimeoutMs: number;

  constructor(private readonly options: SystemEventSchedulerOptions) {
    this.now = options.now ?? Date.now;
    this.maxEventsPerRun = options.maxEventsPerRun ?? 5_000;
    this.catchUpTimeoutMs = options.catchUpTimeoutMs ?? 30_000;
    const names = new Set<string>();
    for (const job of options.jobs) {
      if (names.has(job.name)) throw new Error(`scheduled job name ${job.name} is used twice`);
      if (!(job.intervalMs > 0)) throw new Error(`scheduled job ${job.name}: intervalMs must be > 0`);
      names.add(job.name);
    }
  }

  /** Schedules every job (first run after one interval). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    for (const job of this.options.jobs) this.schedule(job);
  }

  /** Stops the timers and waits for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
  }

  /** Every job's interval in milliseconds, by name (what this process runs, as configured). */
  intervals(): Record<string, number> {
    return Object.fromEntries(this.options.jobs.map((j) => [j.name, j.intervalMs]));
  }

  /** Runs one job now (as of `asOf`, default the clock); a run already in progress is joined, not doubled. */
  runNow(jobName: string, asOf?: number): Promise<ScheduledRun> {
    const job = this.options.jobs.find((j) => j.name === jobName);
    if (!job) throw new Error(`no scheduled job named ${jobName}`);
    const inProgress = this.running.get(job.name);
    if (inProgress) return inProgress;
    const run = this.run(job, asOf ?? this.now()).finally(() => this.running.delete(job.name));
    this.running.set(job.name, run);
    return run;
  }

  private schedule(job: ScheduledJob): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.runNow(job.name)
        .catch((e: unknown) => this.options.logger?.error('scheduled job failed', { job: job.name, error: errorKind(e) }))
        .finally(() => this.schedule(job));
    }, job.intervalMs);
    timer.unref();
    this.timers.set(job.name, timer);
  }

  private async run(job: ScheduledJob, asOf: number): Promise<ScheduledRun> {
    const result: ScheduledRun = { job: job.name, asOf, evaluated: false, due: 0, appended: 0, duplicates: 0, deferred: 0 };
    const head = await this.options.store.headPosition();
    if (!(await job.whenCaughtUp(head, this.catchUpTimeoutMs))) {
      this.options.logger?.warn('scheduled job skipped: its read model is behind the log', { job: job.name, head });
      return result;
    }
    const due = await job.evaluate(asOf);
    result.evaluated = true;
    result.due = due.length;
    const now = due.slice(0, this.maxEventsPerRun);
    result.deferred = due.length - now.length;
    for (const e of now) {
      const eventId = scheduledEventId(job.name, e.idParts);
      try {
        const appended = await this.options.store.appendToStream(
          e.streamId,
          [{ eventId, type: e.type, data: e.data, metadata: { ...e.metadata } }],
          {
            expectedRevision: 'any',
          },
        );
        if (appended.events[0].duplicate) result.duplicates++;
        else result.appended++;
      } catch (error) {
        // the same fact, already appended by an earlier run with another instant in its payload
        if (error instanceof EventIdConflictError) result.duplicates++;
        else throw error;
      }
    }
    if (result.appended > 0 || result.deferred > 0) {
      this.options.logger?.info('scheduled job appended events', { ...result });
    }
    return result;
  }
}

const errorKind = (e: unknown): string => (e instanceof Error ? e.name : 'unknown');
