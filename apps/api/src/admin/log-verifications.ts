import type { AnchoredHead } from '@cem/event-store';
import { verifyLogAction, type LogStores, type OpsActor } from '@cem/platform';
import { BackgroundJobs, runningFraction } from './background-jobs';
import type { LogVerificationJobDto } from './log.dto';

/** A running verification is already there: one walk of the whole log at a time. */
export class VerificationRunningError extends Error {
  constructor(readonly jobId: string) {
    super(`a log verification is already running (job ${jobId}): wait for it, or read its status`);
  }
}

/**
 * verify-log as a background job of the admin API: it walks the whole log (a minute per million
 * events or so), which no HTTP request should wait for. One runs at a time; its progress is read by
 * polling the job (BackgroundJobs: in this process's memory; the result of every one is kept in the
 * log as its `ops.action-performed` event).
 */
export class LogVerifications {
  private readonly jobs: BackgroundJobs<LogVerificationJobDto>;

  constructor(
    private readonly stores: LogStores,
    now: () => number = Date.now,
  ) {
    this.jobs = new BackgroundJobs({
      kind: 'log verification',
      running: (jobId) => new VerificationRunningError(jobId),
      cooldown: false,
      copy: (job) => ({ ...job, progress: { ...job.progress } }),
      now,
    });
  }

  start(actor: OpsActor, expectHead: { text: string; anchor: AnchoredHead } | undefined): LogVerificationJobDto {
    return this.jobs.start(
      (jobId, startedAt) => ({
        jobId,
        status: 'running',
        requestedBy: actor.name,
        expectHead: expectHead?.text ?? null,
        startedAt,
        finishedAt: null,
        progress: { eventsChecked: 0, position: 0, headPosition: 0, fraction: 0, eventsPerSecond: 0, etaSeconds: null },
      }),
      (job, checkStop) => this.run(job, actor, expectHead, checkStop),
    );
  }

  get(jobId: string): LogVerificationJobDto | undefined {
    return this.jobs.get(jobId);
  }

  /** Stops a running verification at its next page (recorded as failed) and waits for its record. */
  close(): Promise<void> {
    return this.jobs.close();
  }

  private async run(
    job: LogVerificationJobDto,
    actor: OpsActor,
    expectHead: { text: string; anchor: AnchoredHead } | undefined,
    checkStop: () => void,
  ): Promise<void> {
    const r = await verifyLogAction(this.stores, actor, {
      expectHead: expectHead?.anchor,
      parameters: { expectHead: expectHead?.text ?? null, jobId: job.jobId },
      onProgress: (p) => {
        checkStop();
        // the last page reaches the head before the verdict: 1 is reported once it is in
        const fraction = runningFraction(p.headPosition ? p.position / p.headPosition : 1);
        const rate = p.elapsedMs > 0 ? (p.eventsChecked * 1000) / p.elapsedMs : 0;
        job.progress = {
          eventsChecked: p.eventsChecked,
          position: p.position,
          headPosition: p.headPosition,
          fraction,
          eventsPerSecond: Math.round(rate),
          etaSeconds: rate > 0 && fraction > 0 ? Math.round(((1 - fraction) * p.elapsedMs) / fraction / 1000) : null,
        };
      },
    });
    job.unsealed = r.unsealed;
    if (r.ok) {
      job.status = 'verified';
      job.head = { seq: r.head.seq, position: r.head.position, hash: r.head.hash };
      job.progress = { ...job.progress, eventsChecked: r.eventsChecked, fraction: 1, etaSeconds: 0 };
    } else {
      job.status = 'not-verified';
      job.problem = r.problem.reason;
      job.verifiedUpTo = { seq: r.verified.seq, position: r.verified.position, hash: r.verified.hash };
      job.progress = { ...job.progress, eventsChecked: r.eventsChecked, etaSeconds: 0 };
    }
  }
}
