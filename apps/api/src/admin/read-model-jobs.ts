import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { rebuildAction, verifyReadModelsAction, type OpsActor, type Platform } from '@cem/platform';
import { READ_MODELS, RebuildStopped, type ReadModel, type ReadModelVerdict, type RebuildRecord } from '@cem/read-models';
import type { ReadModelVerdictDto, ReadModelVerificationJobDto } from './rebuilds.dto';

/** Finished verifications kept for their status answers; the oldest go first. Each is also an ops event for good. */
const KEEP_FINISHED = 50;
/**
 * Events per batch of a job's projection in the api process: a batch runs without giving the event
 * loop back (the embedded store's calls are synchronous), so it is kept small enough for the requests
 * served meanwhile (the CLI's default is 5,000).
 */
export const API_JOB_BATCH_SIZE = 500;
/** drifting customers listed per read model in an answer (the CLI's --json lists all) */
const MAX_DRIFT_CUSTOMERS = 1_000;

export const modelsNamed = (names: readonly string[] | undefined): ReadModel[] =>
  !names || names.includes('all') ? [...READ_MODELS] : READ_MODELS.filter((m) => names.includes(m.name));

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
const coolingDown = (endedAt: number | undefined, now: number) =>
  endedAt === undefined ? 0 : Math.max(0, Math.ceil((endedAt + JOB_COOLDOWN_S * 1000 - now) / 1000));

/** A read-model verification is already running in this process: one at a time. */
export class ReadModelVerificationRunningError extends Error {
  constructor(readonly jobId: string) {
    super(`a read-model verification is already running (job ${jobId}): wait for it, or read its status`);
  }
}

class ShuttingDown extends Error {
  constructor() {
    super('stopped: the API is shutting down (start it again)');
  }
}

/**
 * Blue/green rebuilds started from the admin API, run in the background of this process (the same
 * work as `cem rebuild`, recorded the same way). Their progress is the registry's (GET
 * /v1/admin/rebuilds): nothing is kept here but the running one, so that a stopping API ends it at
 * its next batch; it stays resumable from what its shadow committed.
 */
export class RebuildJobs {
  private running?: Promise<unknown>;
  private stopping = false;
  private endedAt?: number;

  constructor(
    private readonly platform: Pick<Platform, 'store' | 'config'>,
    private readonly logger?: LoggerService,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Starts a rebuild and resolves with its record once it is claimed (new, or an interrupted one of the
   * same read models resumed); rejects with the refusal (RebuildError) when it cannot start.
   */
  async start(actor: OpsActor, models: readonly ReadModel[], switchWhenVerified: boolean, batchSize?: number): Promise<RebuildRecord> {
    const wait = coolingDown(this.endedAt, this.now());
    if (wait > 0) throw new JobCoolingDownError('rebuild', wait);
    let claimed!: (r: RebuildRecord) => void;
    const whenClaimed = new Promise<RebuildRecord>((resolve) => (claimed = resolve));
    const run = rebuildAction(this.platform, actor, models, {
      switchWhenVerified,
      batchSize: batchSize ?? API_JOB_BATCH_SIZE,
      onClaimed: claimed,
      shouldStop: () => this.stopping,
    });
    const first = await Promise.race([whenClaimed, run]);
    // it runs on after the answer: its end is in the registry and in its ops event
    const background = run.then(
      () => undefined,
      (e: unknown) => {
        if (!(e instanceof RebuildStopped))
          this.logger?.warn?.({
            msg: 'rebuild started from the admin API ended without switching',
            id: first.id,
            error: (e as Error)?.message,
          });
      },
    );
    this.running = background;
    void background.finally(() => {
      this.endedAt = this.now();
      if (this.running === background) this.running = undefined;
    });
    return first;
  }

  /** Stops a running rebuild at its next batch (resumable) and waits for it. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.running;
  }
}

const verdictDto = (v: ReadModelVerdict): ReadModelVerdictDto => ({
  readModel: v.readModel,
  status: v.status,
  position: v.position,
  liveVersion: v.liveVersion,
  codeVersion: v.codeVersion,
  liveChecksum: v.live?.checksum ?? null,
  rebuiltChecksum: v.rebuilt?.checksum ?? null,
  rows: (v.live?.tables ?? []).reduce((n, t) => n + t.rows, 0),
  driftTables: v.driftTables,
  driftCustomerCount: v.driftCustomers.length,
  driftCustomers: v.driftCustomers.slice(0, MAX_DRIFT_CUSTOMERS),
});

/**
 * `cem verify` as a background job of the admin API (it rebuilds each read model into a scratch copy:
 * the time of a rebuild). One runs at a time; progress by polling; jobs live in this process's memory
 * (the result of each is its `verify` ops event for good).
 */
export class ReadModelVerifications {
  private readonly jobs = new Map<string, ReadModelVerificationJobDto>();
  private running?: { jobId: string; done: Promise<void> };
  private stopping = false;
  private endedAt?: number;

  constructor(
    private readonly platform: Pick<Platform, 'store' | 'config'>,
    private readonly now: () => number = Date.now,
  ) {}

  start(actor: OpsActor, models: readonly ReadModel[]): ReadModelVerificationJobDto {
    if (this.running) throw new ReadModelVerificationRunningError(this.running.jobId);
    const wait = coolingDown(this.endedAt, this.now());
    if (wait > 0) throw new JobCoolingDownError('read-model verification', wait);
    const started = this.now();
    const job: ReadModelVerificationJobDto = {
      jobId: randomUUID(),
      status: 'running',
      requestedBy: actor.name,
      readModels: models.map((m) => m.name),
      startedAt: new Date(started).toISOString(),
      finishedAt: null,
      progress: { readModel: null, readModelsDone: 0, position: 0, to: 0, fraction: 0 },
      verdicts: null,
    };
    this.jobs.set(job.jobId, job);
    this.forgetOld();
    const done = this.run(job, actor, models, started).finally(() => {
      this.endedAt = this.now();
      this.running = undefined;
    });
    this.running = { jobId: job.jobId, done };
    return this.copy(job);
  }

  get(jobId: string): ReadModelVerificationJobDto | undefined {
    const job = this.jobs.get(jobId);
    return job && this.copy(job);
  }

  async close(): Promise<void> {
    this.stopping = true;
    await this.running?.done;
  }

  private copy(job: ReadModelVerificationJobDto): ReadModelVerificationJobDto {
    return { ...job, readModels: [...job.readModels], progress: { ...job.progress }, verdicts: job.verdicts && [...job.verdicts] };
  }

  private async run(job: ReadModelVerificationJobDto, actor: OpsActor, models: readonly ReadModel[], started: number): Promise<void> {
    const names = models.map((m) => m.name);
    try {
      const verdicts = await verifyReadModelsAction(this.platform, actor, models, {
        parameters: { jobId: job.jobId },
        batchSize: API_JOB_BATCH_SIZE,
        onProgress: (p) => {
          if (this.stopping) throw new ShuttingDown();
          const done = Math.max(0, names.indexOf(p.readModel));
          const within = p.phase === 'rebuild' && p.to > 0 ? Math.min(1, p.position / p.to) : p.phase === 'rebuilt-checksum' ? 1 : 0;
          job.progress = {
            readModel: p.readModel,
            readModelsDone: done,
            position: p.position,
            to: p.to,
            fraction: (done + within) / names.length,
          };
        },
      });
      job.verdicts = verdicts.map(verdictDto);
      job.status = verdicts.some((v) => v.status === 'drift') ? 'drift' : 'equal';
      job.progress = { ...job.progress, readModel: null, readModelsDone: names.length, fraction: 1 };
    } catch (e) {
      job.status = 'failed';
      job.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
    }
    job.finishedAt = new Date(Math.max(this.now(), started)).toISOString();
  }

  private forgetOld(): void {
    const finished = [...this.jobs.values()].filter((j) => j.status !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(j.jobId);
  }
}
