import 'reflect-metadata';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { AppConfig } from '@cem/config';
import { openPlatform, rebuildHere, verifyHere, type RebuildRunner, type VerifyRunner } from '@cem/platform';
import { READ_MODELS, RebuildError, RebuildStopped, type ReadModelVerdict, type RebuildRecord } from '@cem/read-models';

/**
 * The admin API's rebuilds and verifications, each in a worker thread of its own. Their projection
 * batches are synchronous (the embedded store's calls are), so in the API's own thread each batch held
 * the event loop: ingestion and reads waited for it. A worker opens its own platform (better-sqlite3
 * connections cannot cross threads) on the API's configuration and runs the same function as the CLI
 * (rebuildHere / verifyHere); the API thread keeps recording the ops events, and the rebuild's progress
 * is the registry the worker saves, read by GET /v1/admin/rebuilds/{id} as before.
 *
 * This file is both: the runners the API thread uses, and the worker's entry (below, when loaded in a worker).
 */

interface JobBase {
  config: AppConfig;
  readModels: string[];
  batchSize?: number;
  /** set to 1 by the API thread: stop at the next batch (a rebuild stays resumable) */
  stop: Int32Array;
}
type WorkerJob =
  | (JobBase & { kind: 'rebuild'; switchWhenVerified: boolean; holdAfterClaim?: Int32Array })
  | (JobBase & { kind: 'verify'; holdAfterClaim?: Int32Array });

type FromWorker =
  | { type: 'claimed'; record: RebuildRecord }
  | { type: 'progress'; progress: Parameters<NonNullable<Parameters<VerifyRunner>[1]['onProgress']>>[0] }
  | { type: 'done'; result: RebuildRecord | ReadModelVerdict[] }
  | { type: 'failed'; error: { name: string; message: string; code?: string } };

/** How often the API thread passes a stop request on to a running worker. */
const STOP_POLL_MS = 200;

export interface WorkerRunnerOptions {
  /**
   * For tests: a rebuild's worker waits on this after claiming (Atomics.wait) until it is set to 1 and
   * notified, so that a test can act while a rebuild certainly runs; a verification's (which claims
   * nothing) once it has opened its platform, before its first batch. A held worker does not see a stop.
   */
  holdAfterClaim?: Int32Array;
}

/** For tests: the options of the admin API's rebuild and verification workers (ApiAppOptions). */
export interface ReadModelWorkersOptions {
  rebuild?: WorkerRunnerOptions;
  verify?: WorkerRunnerOptions;
}

/** A rebuild in a worker thread, on the API's configuration. */
export function rebuildInWorker(config: AppConfig, options: WorkerRunnerOptions = {}): RebuildRunner {
  return (models, switchWhenVerified, run) =>
    inWorker<RebuildRecord>(
      {
        kind: 'rebuild',
        config,
        readModels: models.map((m) => m.name),
        switchWhenVerified,
        batchSize: run.batchSize,
        holdAfterClaim: options.holdAfterClaim,
      },
      { onClaimed: run.onClaimed, shouldStop: run.shouldStop },
    );
}

/** A verification in a worker thread; `shouldStop` ends it at its next batch. */
export function verifyInWorker(config: AppConfig, shouldStop: () => boolean, options: WorkerRunnerOptions = {}): VerifyRunner {
  return (models, run) =>
    inWorker<ReadModelVerdict[]>(
      { kind: 'verify', config, readModels: models.map((m) => m.name), batchSize: run.batchSize, holdAfterClaim: options.holdAfterClaim },
      { onProgress: run.onProgress, shouldStop },
    );
}

/** the error a worker reported, as the class the API's handlers know */
function revive(e: { name: string; message: string; code?: string }): Error {
  if (e.name === 'RebuildError') return new RebuildError(e.code as RebuildError['code'], e.message);
  if (e.name === 'RebuildStopped') return Object.assign(new RebuildStopped(''), { message: e.message });
  return Object.assign(new Error(e.message), { name: e.name });
}

/** a job as the API thread describes it: the worker gets the stop flag on top */
type JobRequest = WorkerJob extends infer J ? (J extends WorkerJob ? Omit<J, 'stop'> : never) : never;

function inWorker<T>(
  job: JobRequest,
  on: { onClaimed?: (r: RebuildRecord) => void; onProgress?: (p: never) => void; shouldStop?: () => boolean },
): Promise<T> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const data = { ...job, stop } as WorkerJob;
  // compiled, the worker is this file; under the TypeScript sources (tests), swc transpiles it as the CLI's child processes are
  const worker = __filename.endsWith('.ts')
    ? new Worker(`require('@swc-node/register'); require(${JSON.stringify(__filename)});`, { eval: true, workerData: data })
    : new Worker(__filename, { workerData: data });
  const poll = setInterval(() => {
    if (on.shouldStop?.()) Atomics.store(stop, 0, 1);
  }, STOP_POLL_MS);
  return new Promise<T>((resolve, reject) => {
    let outcome: { ok: true; value: T } | { ok: false; error: Error } | undefined;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'claimed') on.onClaimed?.(m.record);
      else if (m.type === 'progress') on.onProgress?.(m.progress as never);
      else if (m.type === 'done') outcome = { ok: true, value: m.result as T };
      else outcome = { ok: false, error: revive(m.error) };
    });
    worker.on('error', (e) => (outcome ??= { ok: false, error: e }));
    // settled once the worker has closed what it opened
    worker.on('exit', (code) => {
      clearInterval(poll);
      if (outcome?.ok) resolve(outcome.value);
      else reject(outcome?.error ?? new Error(`the read-model worker exited with ${code} before it finished`));
    });
  });
}

/** The worker: opens its own platform, runs the job, reports, closes. */
async function work(job: WorkerJob): Promise<void> {
  const post = (m: FromWorker) => parentPort!.postMessage(m);
  const stopped = () => Atomics.load(job.stop, 0) === 1;
  const models = READ_MODELS.filter((m) => job.readModels.includes(m.name));
  let outcome: FromWorker;
  const platform = openPlatform(job.config);
  try {
    if (job.kind === 'rebuild') {
      const record = await rebuildHere(platform)(models, job.switchWhenVerified, {
        batchSize: job.batchSize,
        shouldStop: stopped,
        onClaimed: (r) => {
          post({ type: 'claimed', record: r });
          if (job.holdAfterClaim) Atomics.wait(job.holdAfterClaim, 0, 0);
        },
      });
      outcome = { type: 'done', result: record };
    } else {
      if (job.holdAfterClaim) Atomics.wait(job.holdAfterClaim, 0, 0);
      const verdicts = await verifyHere(platform)(models, {
        batchSize: job.batchSize,
        onProgress: (p) => {
          if (stopped()) throw new Error('stopped: the API is shutting down (start it again)');
          post({ type: 'progress', progress: p });
        },
      });
      outcome = { type: 'done', result: verdicts };
    }
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    outcome = { type: 'failed', error: { name: error.name, message: error.message, code: (error as RebuildError).code } };
  } finally {
    await platform.close();
  }
  post(outcome);
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.stop instanceof Int32Array) void work(workerData as WorkerJob);
