import { randomUUID } from 'node:crypto';
import type { AnchoredHead } from '@cem/event-store';
import { verifyLogAction, type LogStores, type OpsActor } from '@cem/platform';
import type { LogVerificationJobDto } from './log.dto';

/** Finished verifications kept for their status answers; the oldest go first. Each is also an ops event for good. */
const KEEP_FINISHED = 50;

/** A running verification is already there: one walk of the whole log at a time. */
export class VerificationRunningError extends Error {
  constructor(readonly jobId: string) {
    super(`a log verification is already running (job ${jobId}): wait for it, or read its status`);
  }
}

class ShuttingDown extends Error {
  constructor() {
    super('stopped: the API is shutting down (start it again)');
  }
}

/**
 * verify-log as a background job of the admin API: it walks the whole log (a minute per million
 * events or so), which no HTTP request should wait for. One runs at a time; its progress is read by
 * polling the job. Jobs live in this process's memory (a restart forgets them: start again); the
 * result of every one is kept in the log as its `ops.action-performed` event.
 */
export class LogVerifications {
  private readonly jobs = new Map<string, LogVerificationJobDto>();
  private running?: { jobId: string; done: Promise<void> };
  private stopping = false;

  constructor(
    private readonly stores: LogStores,
    private readonly now: () => number = Date.now,
  ) {}

  start(actor: OpsActor, expectHead: { text: string; anchor: AnchoredHead } | undefined): LogVerificationJobDto {
    if (this.running) throw new VerificationRunningError(this.running.jobId);
    const started = this.now();
    const job: LogVerificationJobDto = {
      jobId: randomUUID(),
      status: 'running',
      requestedBy: actor.name,
      expectHead: expectHead?.text ?? null,
      startedAt: new Date(started).toISOString(),
      finishedAt: null,
      progress: { eventsChecked: 0, position: 0, headPosition: 0, fraction: 0, eventsPerSecond: 0, etaSeconds: null },
    };
    this.jobs.set(job.jobId, job);
    this.forgetOld();
    const done = this.run(job, actor, expectHead, started).finally(() => {
      this.running = undefined;
    });
    this.running = { jobId: job.jobId, done };
    return { ...job };
  }

  get(jobId: string): LogVerificationJobDto | undefined {
    const job = this.jobs.get(jobId);
    return job && { ...job, progress: { ...job.progress } };
  }

  /** Stops a running verification at its next page (recorded as failed) and waits for its record. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.running?.done;
  }

  private async run(
    job: LogVerificationJobDto,
    actor: OpsActor,
    expectHead: { text: string; anchor: AnchoredHead } | undefined,
    started: number,
  ): Promise<void> {
    try {
      const r = await verifyLogAction(this.stores, actor, {
        expectHead: expectHead?.anchor,
        parameters: { expectHead: expectHead?.text ?? null, jobId: job.jobId },
        onProgress: (p) => {
          if (this.stopping) throw new ShuttingDown();
          const fraction = p.headPosition ? Math.min(1, p.position / p.headPosition) : 1;
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
