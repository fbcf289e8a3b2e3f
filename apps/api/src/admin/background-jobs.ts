import { randomUUID } from 'node:crypto';

/** Finished jobs kept for their status answers; the oldest go first. Each is also an ops event for good. */
const KEEP_FINISHED = 50;

/**
 * Seconds after a job started here ends before the next of its kind may start: each costs a full
 * rebuild of the read models it names, and runs in the api process among the requests it serves,
 * so back-to-back jobs (a script in a loop, a fuzzer) cannot keep it busy.
 */
export const JOB_COOLDOWN_S = 60;

/** A job of this kind ended less than JOB_COOLDOWN_S ago. */
export class JobCoolingDownError extends Error {
  constructor(
    kind: string,
    readonly retryAfterS: number,
  ) {
    super(
      `a ${kind} started from the admin API ended less than ${JOB_COOLDOWN_S} s ago: try again in ${retryAfterS} s (or run it with the CLI)`,
    );
  }
}

/** seconds left of the cooldown after a job that ended at `endedAt` (0: none) */
export const coolingDown = (endedAt: number | undefined, now: number): number =>
  endedAt === undefined ? 0 : Math.max(0, Math.ceil((endedAt + JOB_COOLDOWN_S * 1000 - now) / 1000));

/** The largest fraction a running job reports: it reads 1 only once it has ended (its verdict is in). */
export const RUNNING_FRACTION_MAX = 0.999;

/** The fraction done of a running job, kept within [0, RUNNING_FRACTION_MAX]. */
export const runningFraction = (fraction: number): number => Math.min(RUNNING_FRACTION_MAX, Math.max(0, fraction));

class ShuttingDown extends Error {
  constructor() {
    super('stopped: the API is shutting down (start it again)');
  }
}

/** What every background job's status answer holds. */
export interface BackgroundJob {
  jobId: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  error?: string;
}

export interface BackgroundJobsOptions<J> {
  /** the job's kind, as the cooldown refusal names it */
  kind: string;
  /** the refusal while one runs: one job of a kind at a time */
  running: (jobId: string) => Error;
  /** a job started from the API waits JOB_COOLDOWN_S after the previous one ended */
  cooldown: boolean;
  /** a copy of a job for an answer (the running job keeps changing) */
  copy: (job: J) => J;
  now?: () => number;
}

/**
 * The background jobs of one kind in the admin API (log verifications, read-model verifications):
 * one runs at a time, its progress is read by polling it, and the last KEEP_FINISHED finished ones are
 * kept in this process's memory for their answers (a restart forgets them: each one's result is its
 * ops event in the log). A job that throws is `failed` with the first line of its error; a stopping
 * API ends the running one at its next progress report (`checkStop`).
 */
export class BackgroundJobs<J extends BackgroundJob> {
  private readonly jobs = new Map<string, J>();
  private running?: { jobId: string; done: Promise<void> };
  private stopping = false;
  private endedAt?: number;
  private readonly now: () => number;

  constructor(private readonly options: BackgroundJobsOptions<J>) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Starts a job: `create` makes its first answer (status `running`, progress at 0), `work` runs it in
   * the background, updating the job, and calls `checkStop` at each step.
   */
  start(create: (jobId: string, startedAt: string) => J, work: (job: J, checkStop: () => void) => Promise<void>): J {
    if (this.running) throw this.options.running(this.running.jobId);
    const wait = this.options.cooldown ? coolingDown(this.endedAt, this.now()) : 0;
    if (wait > 0) throw new JobCoolingDownError(this.options.kind, wait);
    const started = this.now();
    const job = create(randomUUID(), new Date(started).toISOString());
    this.jobs.set(job.jobId, job);
    this.forgetOld();
    const checkStop = () => {
      if (this.stopping) throw new ShuttingDown();
    };
    const done = (async () => {
      try {
        await work(job, checkStop);
      } catch (e) {
        Object.assign(job, { status: 'failed', error: e instanceof Error ? e.message.split('\n')[0] : String(e) });
      }
      job.finishedAt = new Date(Math.max(this.now(), started)).toISOString();
    })().finally(() => {
      this.endedAt = this.now();
      this.running = undefined;
    });
    this.running = { jobId: job.jobId, done };
    return this.options.copy(job);
  }

  get(jobId: string): J | undefined {
    const job = this.jobs.get(jobId);
    return job && this.options.copy(job);
  }

  /** Stops the running job at its next step (recorded as failed) and waits for its end. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.running?.done;
  }

  private forgetOld(): void {
    const finished = [...this.jobs.values()].filter((j) => j.status !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(j.jobId);
  }
}
