import type { LoggerService } from '@nestjs/common';
import { rebuildAction, verifyReadModelsAction, type OpsActor, type Platform } from '@cem/platform';
import { READ_MODELS, RebuildStopped, type ReadModel, type ReadModelVerdict, type RebuildRecord } from '@cem/read-models';
import { BackgroundJobs, coolingDown, JobCoolingDownError, runningFraction } from './background-jobs';
import { rebuildInWorker, verifyInWorker, type WorkerRunnerOptions } from './read-model-worker';
import type { ReadModelVerdictDto, ReadModelVerificationJobDto } from './rebuilds.dto';

export { JOB_COOLDOWN_S, JobCoolingDownError } from './background-jobs';

/**
 * Events per batch of a job's projection started from the API. The job runs in a worker thread of its
 * own (read-model-worker.ts), so its batches no longer hold the API's event loop; they stay smaller than
 * the CLI's 5,000 so that a stop (the API shutting down) is seen soon.
 */
export const API_JOB_BATCH_SIZE = 500;
/** drifting customers listed per read model in an answer (the CLI's --json lists all) */
const MAX_DRIFT_CUSTOMERS = 1_000;

export const modelsNamed = (names: readonly string[] | undefined): ReadModel[] =>
  !names || names.includes('all') ? [...READ_MODELS] : READ_MODELS.filter((m) => names.includes(m.name));

/** checkStop (BackgroundJobs) as a question: whether the job is asked to stop */
const stopRequested = (checkStop: () => void): boolean => {
  try {
    checkStop();
    return false;
  } catch {
    return true;
  }
};

/** A read-model verification is already running in this process: one at a time. */
export class ReadModelVerificationRunningError extends Error {
  constructor(readonly jobId: string) {
    super(`a read-model verification is already running (job ${jobId}): wait for it, or read its status`);
  }
}

/**
 * Blue/green rebuilds started from the admin API, each run in a worker thread (the same work as `cem
 * rebuild`, recorded the same way by this thread). Their progress is the registry's (GET
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
    private readonly worker: WorkerRunnerOptions = {},
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
      runner: rebuildInWorker(this.platform.config, this.worker),
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
 * `cem verify` as a background job of the admin API, in a worker thread (it rebuilds each read model
 * into a scratch copy: the time of a rebuild). One runs at a time; progress by polling; jobs live in this process's memory
 * (the result of each is its `verify` ops event for good).
 */
export class ReadModelVerifications {
  private readonly jobs: BackgroundJobs<ReadModelVerificationJobDto>;

  constructor(
    private readonly platform: Pick<Platform, 'store' | 'config'>,
    now: () => number = Date.now,
    private readonly worker: WorkerRunnerOptions = {},
  ) {
    this.jobs = new BackgroundJobs({
      kind: 'read-model verification',
      running: (jobId) => new ReadModelVerificationRunningError(jobId),
      cooldown: true,
      copy: (job) => ({
        ...job,
        readModels: [...job.readModels],
        progress: { ...job.progress },
        verdicts: job.verdicts && [...job.verdicts],
      }),
      now,
    });
  }

  start(actor: OpsActor, models: readonly ReadModel[]): ReadModelVerificationJobDto {
    return this.jobs.start(
      (jobId, startedAt) => ({
        jobId,
        status: 'running',
        requestedBy: actor.name,
        readModels: models.map((m) => m.name),
        startedAt,
        finishedAt: null,
        progress: { readModel: null, readModelsDone: 0, position: 0, to: 0, fraction: 0 },
        verdicts: null,
      }),
      (job, checkStop) => this.run(job, actor, models, checkStop),
    );
  }

  get(jobId: string): ReadModelVerificationJobDto | undefined {
    return this.jobs.get(jobId);
  }

  close(): Promise<void> {
    return this.jobs.close();
  }

  private async run(job: ReadModelVerificationJobDto, actor: OpsActor, models: readonly ReadModel[], checkStop: () => void): Promise<void> {
    const names = models.map((m) => m.name);
    const verdicts = await verifyReadModelsAction(this.platform, actor, models, {
      parameters: { jobId: job.jobId },
      batchSize: API_JOB_BATCH_SIZE,
      // the work runs in a worker thread: it asks whether to stop at each batch (the progress below comes by message)
      runner: verifyInWorker(this.platform.config, () => stopRequested(checkStop), this.worker),
      onProgress: (p) => {
        const done = Math.max(0, names.indexOf(p.readModel));
        const within = p.phase === 'rebuild' && p.to > 0 ? Math.min(1, p.position / p.to) : p.phase === 'rebuilt-checksum' ? 1 : 0;
        job.progress = {
          readModel: p.readModel,
          readModelsDone: done,
          position: p.position,
          to: p.to,
          // the last read model's checksum is done before the verdicts: 1 is reported once they are in
          fraction: runningFraction((done + within) / names.length),
        };
      },
    });
    job.verdicts = verdicts.map(verdictDto);
    job.status = verdicts.some((v) => v.status === 'drift') ? 'drift' : 'equal';
    job.progress = { ...job.progress, readModel: null, readModelsDone: names.length, fraction: 1 };
  }
}
