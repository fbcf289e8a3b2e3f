import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customerStreamId } from '@cem/domain';
import { SqliteEventStore } from '@cem/event-store';
import { scheduledEventId, SystemEventScheduler, type ScheduledEvent, type ScheduledJob } from './scheduled-system-events';

/**
 * A job like a band-change announcer: each key has a current level; a `test.level-changed` event is
 * due when it differs from the last one announced. "Announced" is read back from the log, as the
 * job's read model would project it (`forget` plays a read model that lost its state).
 */
function levelJob(store: SqliteEventStore, levels: Map<string, string>, opts: { caughtUp?: boolean; forget?: boolean } = {}): ScheduledJob {
  return {
    name: 'test-levels',
    intervalMs: 20,
    whenCaughtUp: async () => opts.caughtUp ?? true,
    async evaluate(asOf) {
      const announced = new Map<string, { level: string; count: number }>();
      if (!opts.forget) {
        for (const e of await store.readAll({ after: 0, maxCount: 100_000 })) {
          if (e.type !== 'test.level-changed') continue;
          const d = e.data as { key: string; level: string };
          announced.set(d.key, { level: d.level, count: (announced.get(d.key)?.count ?? 0) + 1 });
        }
      }
      const due: ScheduledEvent[] = [];
      for (const [key, level] of [...levels].sort(([a], [b]) => a.localeCompare(b))) {
        const last = announced.get(key);
        if (last?.level === level) continue;
        const seq = String((last?.count ?? 0) + 1);
        due.push({
          streamId: customerStreamId(key),
          type: 'test.level-changed',
          data: { key, level, asOf: new Date(asOf).toISOString() },
          metadata: { schemaVersion: 1, occurredAt: new Date(asOf).toISOString(), customerId: key, source: 'test' },
          idParts: [key, seq, level],
        });
      }
      return due;
    },
  };
}

describe('SystemEventScheduler: scheduled system events with deterministic ids', () => {
  let dir: string;
  let store: SqliteEventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-sched-'));
    store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const countOfType = async () =>
    (await store.readAll({ after: 0, maxCount: 100_000 })).filter((e) => e.type === 'test.level-changed').length;

  it('appends what is due once; the next run finds nothing new; a change is announced with its own id', async () => {
    const levels = new Map([
      ['a', 'high'],
      ['b', 'low'],
    ]);
    const scheduler = new SystemEventScheduler({ store, jobs: [levelJob(store, levels)] });
    expect(await scheduler.runNow('test-levels', Date.parse('2026-01-01T00:00:00Z'))).toMatchObject({
      evaluated: true,
      due: 2,
      appended: 2,
    });
    expect(await scheduler.runNow('test-levels', Date.parse('2026-01-02T00:00:00Z'))).toMatchObject({ due: 0, appended: 0 });
    levels.set('a', 'low');
    expect(await scheduler.runNow('test-levels')).toMatchObject({ due: 1, appended: 1 });
    const events = (await store.readAll({ after: 0 })).filter((e) => e.type === 'test.level-changed');
    expect(events.map((e) => e.eventId)).toEqual([
      scheduledEventId('test-levels', ['a', '1', 'high']),
      scheduledEventId('test-levels', ['b', '1', 'low']),
      scheduledEventId('test-levels', ['a', '2', 'low']),
    ]);
  });

  it('a state that re-finds old facts (lost state, a second process, another instant) appends nothing: no storm', async () => {
    const levels = new Map([
      ['a', 'high'],
      ['b', 'critical'],
      ['c', 'low'],
    ]);
    await new SystemEventScheduler({ store, jobs: [levelJob(store, levels)] }).runNow('test-levels', Date.parse('2026-01-01T00:00:00Z'));
    const forgetful = new SystemEventScheduler({ store, jobs: [levelJob(store, levels, { forget: true })] });
    // a later instant: same ids, other payload (the store's content check), still not appended
    expect(await forgetful.runNow('test-levels', Date.parse('2026-03-01T00:00:00Z'))).toMatchObject({ due: 3, appended: 0, duplicates: 3 });
    expect(await countOfType()).toBe(3);
  });

  it('a job whose read model is behind the log is not evaluated', async () => {
    const job = levelJob(store, new Map([['a', 'high']]), { caughtUp: false });
    const evaluate = jest.spyOn(job, 'evaluate');
    const run = await new SystemEventScheduler({ store, jobs: [job] }).runNow('test-levels');
    expect(run).toMatchObject({ evaluated: false, appended: 0 });
    expect(evaluate).not.toHaveBeenCalled();
    expect(await countOfType()).toBe(0);
  });

  it('bounds a run to maxEventsPerRun and leaves the rest to the next run', async () => {
    const levels = new Map(Array.from({ length: 7 }, (_, i) => [`k${i}`, 'high'] as [string, string]));
    const scheduler = new SystemEventScheduler({ store, jobs: [levelJob(store, levels)], maxEventsPerRun: 5 });
    expect(await scheduler.runNow('test-levels')).toMatchObject({ due: 7, appended: 5, deferred: 2 });
    expect(await scheduler.runNow('test-levels')).toMatchObject({ due: 2, appended: 2, deferred: 0 });
    expect(await countOfType()).toBe(7);
  });

  it('overlapping runs of a job are one run; the timer runs jobs until stopped', async () => {
    const levels = new Map([['a', 'high']]);
    const scheduler = new SystemEventScheduler({ store, jobs: [levelJob(store, levels)] });
    const [r1, r2] = await Promise.all([scheduler.runNow('test-levels'), scheduler.runNow('test-levels')]);
    expect(r1).toBe(r2);
    levels.set('b', 'medium');
    scheduler.start();
    // the first timer run is due after 20 ms, but on a loaded machine it may come seconds later: the
    // wait is for the event, and its bound (not 2 s as it was) only catches a timer that never runs
    for (const deadline = Date.now() + 30_000; (await countOfType()) < 2;) {
      if (Date.now() > deadline) throw new Error('the timer ran no job within 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await scheduler.stop();
    expect(await countOfType()).toBe(2);
  });

  it('refuses a bad job list', () => {
    const job = levelJob(store, new Map());
    expect(() => new SystemEventScheduler({ store, jobs: [job, job] })).toThrow(/test-levels is used twice/);
    expect(() => new SystemEventScheduler({ store, jobs: [{ ...job, intervalMs: 0 }] })).toThrow(/intervalMs must be > 0/);
    expect(() => new SystemEventScheduler({ store, jobs: [job] }).runNow('nope')).toThrow(/no scheduled job named nope/);
  });
});
