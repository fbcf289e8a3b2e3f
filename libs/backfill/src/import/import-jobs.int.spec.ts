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
const csv = (n: number) => `id,at,cookie,page\n${Array.from({ length: n }, (_, i) => `v${i},${1700000000 + i},ck${i % 13},p${i}`).join('\n')}\n`;

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
    expect(second.get(job.jobId)).toMatchObject({ status: 'completed', counts: { rowsRead: 100, eventsImported: 100, eventsDuplicate: 0, rowsRejected: 0 } });
    expect(await fx.countByType()).toEqual({ 'web.visited': 100 });
  });

  it('refuses bad mappings, second uploads and oversized uploads', async () => {
    const jobs = new ImportJobs({ dir: fx.stateDir('..'), ingestion: fx.platform.ingestion, maxUploadBytes: 100 });
    expect(() => jobs.create({ ...mapping, key: 'id' })).toThrow(MappingError);
    const job = jobs.create(mapping);
    await expect(jobs.upload(job.jobId, Readable.from([csv(50)]))).rejects.toBeInstanceOf(UploadTooLargeError);
    expect(jobs.get(job.jobId)!.status).toBe('awaiting_upload'); // may try again with a smaller file
    await jobs.upload(job.jobId, Readable.from([csv(2)]));
    await expect(jobs.upload(job.jobId, Readable.from([csv(2)]))).rejects.toBeInstanceOf(JobStateError);
    await jobs.idle();
    expect(jobs.get(job.jobId)!.counts.eventsImported).toBe(2);
  });
});
