import {
  BackgroundJobs,
  JOB_COOLDOWN_S,
  JobCoolingDownError,
  RUNNING_FRACTION_MAX,
  runningFraction,
  type BackgroundJob,
} from './background-jobs';

interface TestJob extends BackgroundJob {
  progress: { fraction: number };
}

class Busy extends Error {}

describe('admin background jobs', () => {
  let t = 1_000_000;
  const jobs = (cooldown: boolean) =>
    new BackgroundJobs<TestJob>({
      kind: 'test job',
      running: (jobId) => new Busy(jobId),
      cooldown,
      copy: (j) => ({ ...j, progress: { ...j.progress } }),
      now: () => t,
    });
  const create = (jobId: string, startedAt: string): TestJob => ({
    jobId,
    status: 'running',
    startedAt,
    finishedAt: null,
    progress: { fraction: 0 },
  });
  /** a job that runs until `finish` is called */
  const gate = () => {
    let finish!: () => void;
    const ended = new Promise<void>((resolve) => (finish = resolve));
    return { ended, finish };
  };
  const settle = () => new Promise((r) => setImmediate(r));

  it('a running job reports at most RUNNING_FRACTION_MAX; 1 only once it has ended', () => {
    expect(runningFraction(1)).toBe(RUNNING_FRACTION_MAX);
    expect(runningFraction(1.2)).toBe(RUNNING_FRACTION_MAX);
    expect(runningFraction(-0.5)).toBe(0);
    expect(runningFraction(0.25)).toBe(0.25);
    expect(RUNNING_FRACTION_MAX).toBeLessThan(1);
  });

  it('runs one at a time, answers copies, and ends a throwing job as failed with the first line of its error', async () => {
    const registry = jobs(false);
    const g = gate();
    const first = registry.start(create, async (job) => {
      job.progress.fraction = 0.5;
      await g.ended;
      job.status = 'done';
    });
    expect(first).toMatchObject({ status: 'running', finishedAt: null, startedAt: new Date(t).toISOString() });
    expect(() => registry.start(create, async () => undefined)).toThrow(Busy);
    const seen = registry.get(first.jobId)!;
    expect(seen.progress.fraction).toBe(0.5);
    seen.progress.fraction = 0.9; // a copy: the job is not changed by its answer
    expect(registry.get(first.jobId)!.progress.fraction).toBe(0.5);
    g.finish();
    await settle();
    await settle();
    expect(registry.get(first.jobId)).toMatchObject({ status: 'done', finishedAt: expect.any(String) });

    const failing = registry.start(create, async () => {
      throw new Error('the log is gone\nstack details');
    });
    await settle();
    await settle();
    expect(registry.get(failing.jobId)).toMatchObject({ status: 'failed', error: 'the log is gone' });
    expect(registry.get('nope')).toBeUndefined();
  });

  it('with a cooldown, refuses the next job until JOB_COOLDOWN_S after the last one ended', async () => {
    const registry = jobs(true);
    registry.start(create, async () => undefined);
    await settle();
    await settle();
    t += 10_000;
    const refused = (() => {
      try {
        registry.start(create, async () => undefined);
      } catch (e) {
        return e;
      }
    })();
    expect(refused).toBeInstanceOf(JobCoolingDownError);
    expect((refused as JobCoolingDownError).retryAfterS).toBe(JOB_COOLDOWN_S - 10);
    t += JOB_COOLDOWN_S * 1000;
    expect(registry.start(create, async () => undefined).status).toBe('running');
  });

  it('close stops the running job at its next step and waits for it (failed, stopped)', async () => {
    const registry = jobs(false);
    const g = gate();
    const job = registry.start(create, async (_job, checkStop) => {
      await g.ended;
      checkStop();
    });
    const closed = registry.close();
    g.finish();
    await closed;
    expect(registry.get(job.jobId)).toMatchObject({ status: 'failed', error: 'stopped: the API is shutting down (start it again)' });
  });
});
