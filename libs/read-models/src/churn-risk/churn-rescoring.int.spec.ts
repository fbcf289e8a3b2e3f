import { join } from 'node:path';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { startProjector } from '../projector/projector.module';
import { SystemEventScheduler } from '../scheduler/scheduled-system-events';
import { openSqliteReadStore, type ReadStore } from '../store/read-store';
import { churnRescoringJob, CHURN_RESCORING_JOB } from './churn-rescoring.job';
import type { ChurnRiskQueries } from './churn-risk.query';
import { churnRisk } from './index';

describe('scheduled churn re-scoring: churn-risk.changed once per band change, no storm on rebuild or restart', () => {
  let loaded: LoadedPlatform;
  const stores: ReadStore[] = [];
  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 21, persons: 200, eventsPerPerson: [5, 30], lateShare: 0.1 });
  }, 120_000);
  afterAll(async () => {
    for (const s of stores) await s.close();
    await loaded.cleanup();
  });

  /** A read store projected to the head, and a scheduler running the re-scoring job on it. */
  async function deployment(file: string) {
    const store = await openSqliteReadStore(join(loaded.dir, file), { readModels: [churnRisk] });
    stores.push(store);
    const running = await startProjector({
      store: loaded.platform.store,
      db: store.db,
      readModels: [churnRisk],
      batchSize: 250,
      retryDelayMs: 20,
    });
    const queries = churnRisk.queries(store.db as never, { now: () => loaded.history.now }) as ChurnRiskQueries;
    const job = churnRescoringJob(queries, (p, t) => running.projector.whenCaughtUp(p, t), 60_000);
    return { queries, running, scheduler: new SystemEventScheduler({ store: loaded.platform.store, jobs: [job] }) };
  }
  const changes = async () =>
    (await loaded.platform.store.readAll({ after: 0, maxCount: 1_000_000 })).filter((e) => e.type === 'churn-risk.changed');

  it('announces each band change once; a rebuilt read model and a restarted process announce nothing again', async () => {
    const asOf = loaded.history.now;
    const first = await deployment('first.db');
    const run1 = await first.scheduler.runNow(CHURN_RESCORING_JOB, asOf);
    expect(run1.appended).toBeGreaterThan(0);
    expect(run1.duplicates).toBe(0);
    const announced = await changes();
    expect(announced).toHaveLength(run1.appended);
    expect(new Set(announced.map((e) => e.eventId)).size).toBe(announced.length);
    // the same instant again, and a later one in the same process: nothing new
    expect(await first.scheduler.runNow(CHURN_RESCORING_JOB, asOf)).toMatchObject({ due: 0, appended: 0 });
    await first.running.close();

    // a rebuild from position 0 in a new process: the announcements are projected back, nothing is due
    const rebuilt = await deployment('rebuilt.db');
    expect(await rebuilt.scheduler.runNow(CHURN_RESCORING_JOB, asOf)).toMatchObject({ evaluated: true, due: 0, appended: 0 });
    // every announced band is the band the read model scores now
    const scoring = await rebuilt.queries.scoreAll(asOf);
    for (const e of announced) {
      const d = e.data as { customerId: string; band: string; fromBand: string | null };
      expect(d.fromBand).toBeNull();
      expect(scoring.customers.find((c) => c.customerId === d.customerId)?.band).toBe(d.band);
      expect(d.band).not.toBe('low');
    }
    // time passes: bands rise, each change announced once with the previous band
    const later = asOf + 400 * 86_400_000;
    const run2 = await rebuilt.scheduler.runNow(CHURN_RESCORING_JOB, later);
    expect(run2.appended).toBe(run2.due);
    expect(await rebuilt.scheduler.runNow(CHURN_RESCORING_JOB, later)).toMatchObject({ due: 0 });
    expect(await changes()).toHaveLength(run1.appended + run2.appended);
    await rebuilt.running.close();
  }, 120_000);
});
