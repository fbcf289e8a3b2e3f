import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MappingError, parseMapping, type MappingProblem } from '../mapping/parse-mapping';
import type { MappingSpec } from '../mapping/mapping.types';
import { ImportFileError } from '../reader/read-records';
import {
  CHECKPOINT_FILE,
  ensureDir,
  PRIVATE_FILE_MODE,
  readJson,
  REJECTS_FILE,
  writeJsonAtomic,
  zeroCounts,
  type ImportCounts,
} from './checkpoint';
import { runImport, type IngestionPort, type ImportProgress } from './run-import';

export type JobStatus = 'awaiting_upload' | 'queued' | 'running' | 'completed' | 'interrupted' | 'failed';

export interface ImportJob {
  jobId: string;
  status: JobStatus;
  mappingName: string;
  /** the API key that created the job: only it (or an ops key) may see it; absent for jobs from before scoping (ops only) */
  ownerKeyId?: string;
  createdAt: string;
  uploadedBytes?: number;
  startedAt?: string;
  finishedAt?: string;
  counts: JobCounts;
  progress?: { bytesRead: number; totalBytes: number; line: number };
  error?: { message: string; problems?: MappingProblem[] };
}

export class UploadTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the upload is larger than ${limit} bytes`);
    this.name = 'UploadTooLargeError';
  }
}

export class JobStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobStateError';
  }
}

/** Who asks for a job: its key, and whether it may see every job (role ops). */
export interface JobViewer {
  keyId: string;
  seesAll?: boolean;
}

export interface ImportJobsOptions {
  /** DATA_DIR/imports */
  dir: string;
  ingestion: IngestionPort;
  maxUploadBytes?: number;
  batchSize?: number;
  now?: () => number;
}

const JOB_FILE = 'job.json';
const MAPPING_FILE = 'mapping.json';
const UPLOAD_FILE = 'upload.dat';

/**
 * Asynchronous imports of uploaded files (the HTTP side of backfill). A job is created with its
 * mapping (checked at once), gets its file, then runs in the background, one job at a time, through
 * the same importer as the CLI. Jobs live on disk: after a restart, queued and running jobs resume
 * from their checkpoints.
 */
export class ImportJobs {
  private readonly queue: string[] = [];
  private running?: { jobId: string; abort: AbortController; done: Promise<void> };
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: ImportJobsOptions) {
    this.now = options.now ?? Date.now;
    ensureDir(options.dir);
  }

  /** Re-queues what a previous process left queued or running; removes what finished jobs no longer need. */
  resumePending(): void {
    for (const id of readdirSync(this.options.dir)) {
      const job = this.get(id);
      if (job && (job.status === 'queued' || job.status === 'running')) this.enqueue(id);
      else if (job && (job.status === 'completed' || job.status === 'failed')) this.cleanUp(id); // e.g. uploads kept by an older version
    }
  }

  create(rawMapping: unknown, ownerKeyId?: string): ImportJob {
    const mapping = parseMapping(rawMapping); // throws MappingError naming every bad path
    if (mapping.lookups && Object.keys(mapping.lookups).length > 0) throw new MappingError([LOOKUPS_OVER_HTTP]);
    const jobId = randomUUID();
    const dir = this.jobDir(jobId);
    ensureDir(dir);
    writeJsonAtomic(join(dir, MAPPING_FILE), mapping);
    const job: ImportJob = {
      jobId,
      status: 'awaiting_upload',
      mappingName: mapping.name,
      ownerKeyId,
      createdAt: this.iso(),
      counts: pickCounts(zeroCounts()),
    };
    this.save(job);
    return job;
  }

  get(jobId: string): ImportJob | undefined {
    if (!/^[0-9a-f-]{36}$/.test(jobId)) return undefined;
    return readJson<ImportJob>(join(this.jobDir(jobId), JOB_FILE));
  }

  /**
   * The job if `viewer` may see it: the key that created it, or a key that sees all (ops). Otherwise
   * undefined, exactly as for a job that does not exist, so a key cannot learn of others' jobs.
   */
  getFor(jobId: string, viewer: JobViewer): ImportJob | undefined {
    const job = this.get(jobId);
    if (!job) return undefined;
    return viewer.seesAll || (job.ownerKeyId !== undefined && job.ownerKeyId === viewer.keyId) ? job : undefined;
  }

  /** Path of the job's reject file (line, event, field, reason), once the job has started. */
  rejectsPath(jobId: string): string | undefined {
    const path = join(this.jobDir(jobId), REJECTS_FILE);
    return this.get(jobId) && existsSync(path) ? path : undefined;
  }

  /** Streams the file to disk (bounded by maxUploadBytes), then queues the job. */
  async upload(jobId: string, body: Readable): Promise<ImportJob> {
    const job = this.get(jobId);
    if (!job) throw new JobStateError(`no import job ${jobId}`);
    if (job.status !== 'awaiting_upload') throw new JobStateError(`import job ${jobId} already has its file (status ${job.status})`);
    const path = join(this.jobDir(jobId), UPLOAD_FILE);
    const limit = this.options.maxUploadBytes ?? 2 * 1024 ** 3;
    let bytes = 0;
    try {
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length;
            if (bytes > limit) throw new UploadTooLargeError(limit);
            yield chunk;
          }
        },
        createWriteStream(path, { mode: PRIVATE_FILE_MODE }),
      );
    } catch (e) {
      rmSync(path, { force: true });
      throw e;
    }
    const queued: ImportJob = { ...job, status: 'queued', uploadedBytes: bytes };
    this.save(queued);
    this.enqueue(jobId);
    return queued;
  }

  /** Resolves when no job is queued or running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running.done;
  }

  /** Stops the running job at its next batch boundary (it resumes after a restart). */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    this.running?.abort.abort();
    await this.running?.done;
  }

  private enqueue(jobId: string) {
    if (this.closed || this.queue.includes(jobId) || this.running?.jobId === jobId) return;
    this.queue.push(jobId);
    if (!this.running) this.next();
  }

  private next() {
    const jobId = this.queue.shift();
    if (!jobId || this.closed) return;
    const abort = new AbortController();
    const done = this.execute(jobId, abort.signal).finally(() => {
      this.running = undefined;
      this.next();
    });
    this.running = { jobId, abort, done };
  }

  private async execute(jobId: string, signal: AbortSignal): Promise<void> {
    const dir = this.jobDir(jobId);
    let job = this.get(jobId)!;
    job = { ...job, status: 'running', startedAt: job.startedAt ?? this.iso(), error: undefined };
    this.save(job);
    let lastSave = 0;
    const onProgress = (p: ImportProgress) => {
      job.counts = pickCounts(p);
      job.progress = { bytesRead: p.bytesRead, totalBytes: p.totalBytes, line: p.line };
      if (this.now() - lastSave > 1000) {
        lastSave = this.now();
        this.save(job);
      }
    };
    try {
      const mapping = readJson<MappingSpec>(join(dir, MAPPING_FILE))!;
      const summary = await runImport({
        file: join(dir, UPLOAD_FILE),
        mapping,
        ingestion: this.options.ingestion,
        stateDir: dir,
        allowLookups: false,
        batchSize: this.options.batchSize,
        signal,
        onProgress,
        now: this.now,
      });
      // interrupted by shutdown: stays "running" on disk so the next process resumes it
      job = {
        ...job,
        counts: pickCounts(summary),
        status: summary.status === 'completed' ? 'completed' : 'running',
        finishedAt: summary.status === 'completed' ? this.iso() : undefined,
      };
    } catch (e) {
      const expected = e instanceof MappingError || e instanceof ImportFileError;
      job = {
        ...job,
        status: 'failed',
        finishedAt: this.iso(),
        error: expected
          ? { message: e.message, problems: e instanceof MappingError ? e.problems : undefined }
          : { message: `the import stopped: ${(e as Error)?.name ?? 'error'}; rows after the last checkpoint were not imported` },
      };
    }
    this.save(job);
    if (job.status === 'completed' || job.status === 'failed') this.cleanUp(jobId);
  }

  /**
   * A finished job (completed or failed: neither runs again) keeps only its record and its reject
   * report; the uploaded file (personal data), the mapping and the checkpoint are deleted.
   */
  private cleanUp(jobId: string) {
    const dir = this.jobDir(jobId);
    for (const f of [UPLOAD_FILE, MAPPING_FILE, CHECKPOINT_FILE]) rmSync(join(dir, f), { force: true });
  }

  private save(job: ImportJob) {
    writeJsonAtomic(join(this.jobDir(job.jobId), JOB_FILE), job);
  }

  private jobDir(jobId: string) {
    return join(this.options.dir, jobId);
  }

  private iso() {
    return new Date(this.now()).toISOString();
  }
}

/** Lookups read files on the server by path: a client must not name them. */
const LOOKUPS_OVER_HTTP: MappingProblem = {
  path: 'lookups',
  reason: 'lookups read other files on the server: not available over HTTP, where only the main file is uploaded (use the CLI import)',
};

/** The counts a job shows over HTTP (the API's documented shape). */
export type JobCounts = Omit<ImportCounts, 'eventsRepeatedInFile'>;

const pickCounts = (c: JobCounts): JobCounts => ({
  rowsRead: c.rowsRead,
  rowsFiltered: c.rowsFiltered,
  rowsRejected: c.rowsRejected,
  eventsImported: c.eventsImported,
  eventsDuplicate: c.eventsDuplicate,
});
