import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { SqliteEventStore, type EventStore } from '@cem/event-store';
import { openPlatform, type Platform } from '@cem/platform';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { IngestConflictError, IngestValidationError } from './errors';
import { IngestionService } from './ingestion.service';

/**
 * Group commit: batches that wait for the same turn are appended in one event-store transaction
 * (one fsync), each answered after it, and atomic per batch.
 */
describe('ingestion: group commit of concurrent batches', () => {
  let dataDir: string;
  let platform: Platform;
  let appendCalls: number;
  let ingestion: IngestionService;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'cem-group-'));
    platform = openPlatform(loadConfig({ DATA_DIR: dataDir }), { now: () => TEST_NOW });
    appendCalls = 0;
    const counting = new Proxy(platform.store, {
      get(target, prop, receiver) {
        if (prop === 'appendMany') return (...args: Parameters<EventStore['appendMany']>) => (appendCalls++, target.appendMany(...args));
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as EventStore;
    ingestion = new IngestionService(counting, platform.registry, { now: () => TEST_NOW, maxFutureSkewMs: 300_000 });
  });
  afterEach(async () => {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** what another connection finds committed in the log file: eventId -> position */
  async function committed(): Promise<Map<string, number>> {
    const other = new SqliteEventStore(join(dataDir, 'events.db'));
    try {
      return new Map((await other.readAll({})).map((e) => [e.eventId, e.position]));
    } finally {
      await other.close();
    }
  }

  const batch = (n: number) => Array.from({ length: n }, () => envelope());

  it('appends batches sent together in one transaction, each answered with its own results after the commit', async () => {
    const batches = [batch(3), batch(1), batch(5)];
    const answers = await Promise.all(batches.map((b) => ingestion.ingest(b)));
    expect(appendCalls).toBe(1);
    expect(ingestion.stats).toEqual({ batches: 3, appends: 1 });
    const log = await committed();
    batches.forEach((b, i) => {
      expect(answers[i].map((r) => r.eventId)).toEqual(b.map((e) => e.eventId));
      for (const r of answers[i]) {
        expect(r.duplicate).toBe(false);
        expect(log.get(r.eventId)).toBe(r.position);
      }
    });
    // a batch sent later, alone, is its own append
    await ingestion.ingest(batch(2));
    expect(appendCalls).toBe(2);
  });

  it('refuses only the batch with a conflicting event: its neighbours are recorded, nothing of it is', async () => {
    const recorded = envelope();
    await ingestion.ingest([recorded]);
    const before = appendCalls;
    const a = batch(2);
    const bad = [envelope(), { ...recorded, data: { ...recorded.data, handleSeconds: 999 } }];
    const c = batch(3);
    const [ra, rb, rc] = await Promise.allSettled([ingestion.ingest(a), ingestion.ingest(bad), ingestion.ingest(c)]);
    expect(ra.status).toBe('fulfilled');
    expect(rc.status).toBe('fulfilled');
    expect(rb.status).toBe('rejected');
    const error = (rb as PromiseRejectedResult).reason as IngestConflictError;
    expect(error).toBeInstanceOf(IngestConflictError);
    // the index is the event's own in its batch
    expect(error.errors).toEqual([
      { index: 1, eventId: recorded.eventId, field: 'eventId', reason: 'was already recorded with different content' },
    ]);
    const log = await committed();
    for (const e of [...a, ...c]) expect(log.has(e.eventId)).toBe(true);
    expect(log.has(bad[0].eventId)).toBe(false);
    // the group was tried once, then each batch on its own
    expect(appendCalls - before).toBe(4);
  });

  it('gives a retry inside a group the first answer, and refuses a repeated eventId with other content in another batch only', async () => {
    const first = batch(2);
    const [original] = await Promise.all([ingestion.ingest(first)]);
    const fresh = envelope();
    const sameIdOtherContent = { ...fresh, data: { ...fresh.data, waitSeconds: 1 } };
    const [retry, withFresh, clash] = await Promise.allSettled([
      ingestion.ingest(first),
      ingestion.ingest([fresh]),
      ingestion.ingest([sameIdOtherContent]),
    ]);
    expect(retry.status === 'fulfilled' && retry.value).toEqual(original.map((r) => ({ ...r, duplicate: true })));
    expect(withFresh.status === 'fulfilled' && withFresh.value[0].duplicate).toBe(false);
    expect(clash.status === 'rejected' && clash.reason).toBeInstanceOf(IngestConflictError);
    const log = await committed();
    expect(log.size).toBe(
      // the events, plus one customer.registered per new customer (one per envelope here)
      2 * 3,
    );
  });

  it('refuses an invalid batch before it queues: the valid batches sent with it are recorded together', async () => {
    const invalid = [envelope(), envelope({ occurredAt: 'yesterday' })];
    const [ok1, refused, ok2] = await Promise.allSettled([
      ingestion.ingest(batch(2)),
      ingestion.ingest(invalid),
      ingestion.ingest(batch(2)),
    ]);
    expect(ok1.status).toBe('fulfilled');
    expect(ok2.status).toBe('fulfilled');
    expect(refused.status === 'rejected' && refused.reason).toBeInstanceOf(IngestValidationError);
    expect(appendCalls).toBe(1);
    expect((await committed()).has(invalid[0].eventId)).toBe(false);
  });
});
