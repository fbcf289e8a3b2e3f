import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { importFixture } from '../../test/import-fixture';
import { ImportJobs, JobStateError, UploadTooLargeError } from './import-jobs';
import { MappingError } from '../mapping/parse-mapping';

const mapping = {
  name: 'visits',
  source: 'web-log',
  input: { format: 'csv', header: true },
  key: ['id'],
  events: [
    {
      type: 'web.visited',
      occurredAt: { column: 'at', type: 'date', format: 'epoch-s' },
      channel: 'web',
      customer: [{ kind: 'cookie', value: { column: 'cookie' } }],
      data: { url: { template: 'https://shop.example.com/{page}' } },
    },
  ],
};
const csv = (n: number) =>
  `id,at,cookie,page\n${Array.from({ length: n }, (_, i) => `v${i},${1700000000 + i},ck${i % 13},p${i}`).join('\n')}\n`;

describe('ImportJobs', () => {
  let fx: ReturnType<typeof importFixture>;
  beforeEach(() => (fx = importFixture()));
  afterEach(() => fx.close());

  it('a job stopped by a shutdown resumes in the next process from its checkpoint', async () => {
    const dir = fx.stateDir('..');
    const first = new ImportJobs({ dir, ingestion: fx.platform.ingestion, batchSize: 10 });
    const job = first.create(mapping);
    await first.upload(job.jobId, Readable.from([csv(100)]));
    await first.close(); // aborts at the first batch boundary
    const stopped = first.get(job.jobId)!;
    expect(stopped.status).toBe('running');
    expect(stopped.counts.rowsRead).toBeLessThan(100);

    const second = new ImportJobs({ dir, ingestion: fx.platform.ingestion, batchSize: 10 });
    second.resumePending();
    await second.idle();
    expect(second.get(job.jobId)).toMatchObject({
      status: 'completed',
      counts: { rowsRead: 100, eventsImported: 100, eventsDuplicate: 0, rowsRejected: 0 },
    });
    expect(await fx.countByType()).toEqual({ 'web.visited': 100 });
  });

  it('refuses bad mappings, second uploads and oversized uploads', async () => {
    const jobs = new ImportJobs({ dir: fx.stateDir('..'), ingestion: fx.platform.ingestion, maxUploadBytes: 100 });
    expect(() => jobs.create({ ...mapping, key: 'id' })).toThrow(MappingError);
    // lookups name files on the server: never from an HTTP client
    expect(() => jobs.create({ ...mapping, lookups: { x: { file: '/etc/passwd', key: 'root' } } })).toThrow(
      'lookups: lookups read other files on the server: not available over HTTP',
    );
    const job = jobs.create(mapping);
    await expect(jobs.upload(job.jobId, Readable.from([csv(50)]))).rejects.toBeInstanceOf(UploadTooLargeError);
    expect(jobs.get(job.jobId)!.status).toBe('awaiting_upload'); // may try again with a smaller file
    await jobs.upload(job.jobId, Readable.from([csv(2)]));
    await expect(jobs.upload(job.jobId, Readable.from([csv(2)]))).rejects.toBeInstanceOf(JobStateError);
    await jobs.idle();
    expect(jobs.get(job.jobId)!.counts.eventsImported).toBe(2);
  });

  const mode = (path: string) => statSync(path).mode & 0o777;
  const filesOf = (dir: string) => readdirSync(dir).sort();

  it('keeps the uploaded file (owner-only) while the job is unfinished, and deletes it when the job ends: only the job record and the reject file stay, owner-only', async () => {
    const dir = fx.stateDir('..');
    const first = new ImportJobs({ dir, ingestion: fx.platform.ingestion, batchSize: 10 });
    const job = first.create(mapping);
    const jobDir = join(dir, job.jobId);
    expect(mode(join(jobDir, 'job.json'))).toBe(0o600);
    expect(mode(join(jobDir, 'mapping.json'))).toBe(0o600);
    expect(mode(jobDir)).toBe(0o700);
    await first.upload(job.jobId, Readable.from([`${csv(60)}v-bad,yesterday,ck1,p\n`]));
    await first.close(); // interrupted: the upload is needed to resume
    expect(filesOf(jobDir)).toEqual(expect.arrayContaining(['upload.dat', 'rejects.csv', 'job.json']));
    for (const f of filesOf(jobDir)) expect([f, mode(join(jobDir, f))]).toEqual([f, 0o600]);

    const second = new ImportJobs({ dir, ingestion: fx.platform.ingestion, batchSize: 10 });
    second.resumePending();
    await second.idle();
    expect(second.get(job.jobId)).toMatchObject({ status: 'completed', counts: { rowsRead: 61, rowsRejected: 1 } });
    expect(filesOf(jobDir)).toEqual(['job.json', 'rejects.csv']);
    for (const f of filesOf(jobDir)) expect([f, mode(join(jobDir, f))]).toEqual([f, 0o600]);
    expect(second.rejectsPath(job.jobId)).toBeDefined();
  });

  it('deletes the uploaded file of a failed job too', async () => {
    const dir = fx.stateDir('..');
    const jobs = new ImportJobs({ dir, ingestion: fx.platform.ingestion });
    const job = jobs.create(mapping);
    await jobs.upload(job.jobId, Readable.from(['id,when,cookie,page\nv1,1700000000,ck,p\n'])); // no column "at": the mapping is refused
    await jobs.idle();
    expect(jobs.get(job.jobId)).toMatchObject({
      status: 'failed',
      error: { problems: [expect.objectContaining({ path: 'events[0].occurredAt.column' })] },
    });
    const jobDir = join(dir, job.jobId);
    expect(filesOf(jobDir)).not.toContain('upload.dat');
    expect(filesOf(jobDir)).toEqual(expect.arrayContaining(['job.json']));
    expect(filesOf(jobDir).filter((f) => f !== 'job.json' && f !== 'rejects.csv')).toEqual([]);
    for (const f of filesOf(jobDir)) expect([f, mode(join(jobDir, f))]).toEqual([f, 0o600]);
  });
});
