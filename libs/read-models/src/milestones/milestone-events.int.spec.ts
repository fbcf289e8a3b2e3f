import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedEvent } from '@cem/event-store';
import { recompute } from '../../../../test/support/customer-360-oracle';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { startProjector } from '../projector/projector.module';
import { scheduledEventId, SystemEventScheduler } from '../scheduler/scheduled-system-events';
import { openSqliteReadStore } from '../store/read-store';
import { MILESTONES_FILE } from './milestone-definitions';
import { MILESTONE_EVENTS_JOB, milestoneEventsJob } from './milestone-events';
import { MilestonesQueries } from './milestones.query';

/*
 * milestone.reached / milestone.missed appended by the scheduler: each outcome once, with a
 * deterministic id, never again on a second run or after a rebuild from position 0, and anew only
 * for a milestone whose definition changed. Expected outcomes come from a plain reading of the raw log.
 */

const DEFINITIONS = {
  milestones: [
    { id: 'onboarded', when: { type: 'purchase.completed' }, deadline: { days: 30, from: 'first-touch' } },
    { id: 'complained', when: { type: 'complaint.filed' } },
  ],
};
const DAY = 86_400_000;
const SYSTEM = new Set(['customer.registered', 'customers.merged', 'customer.merged-into', 'milestone.reached', 'milestone.missed']);
const occurred = (e: RecordedEvent) => Date.parse((e.metadata as { occurredAt: string }).occurredAt);

/** per live customer, the outcome of each milestone at `asOf`: [kind, instant] or nothing (open) */
function expectedOutcomes(log: RecordedEvent[], asOf: number, onboardingDays: number): Map<string, [string, string]> {
  const { mergedInto } = recompute(log);
  const events = new Map<string, RecordedEvent[]>();
  for (const e of log) {
    if (SYSTEM.has(e.type)) continue;
    const stream = e.streamId.slice('customer-'.length);
    const owner = mergedInto.get(stream) ?? stream;
    events.set(owner, [...(events.get(owner) ?? []), e]);
  }
  const out = new Map<string, [string, string]>();
  for (const [customer, list] of events) {
    const first = Math.min(...list.map(occurred));
    const earliest = (type: string) => Math.min(...list.filter((e) => e.type === type).map(occurred));
    const bought = earliest('purchase.completed');
    const deadline = first + onboardingDays * DAY;
    if (bought <= deadline) out.set(`${customer}/onboarded`, ['reached', new Date(bought).toISOString()]);
    else if (deadline <= asOf) out.set(`${customer}/onboarded`, ['missed', new Date(deadline).toISOString()]);
    const complained = earliest('complaint.filed');
    if (Number.isFinite(complained)) out.set(`${customer}/complained`, ['reached', new Date(complained).toISOString()]);
  }
  return out;
}

describe('milestone events (scheduled)', () => {
  let loaded: LoadedPlatform;

  async function project(dataDir: string, file: string) {
    const readStore = await openSqliteReadStore(join(dataDir, file));
    const running = await startProjector({ store: loaded.platform.store, db: readStore.db, batchSize: 200, dataDir });
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    const scheduler = new SystemEventScheduler({
      store: loaded.platform.store,
      jobs: [
        milestoneEventsJob({
          queries: new MilestonesQueries(readStore.db as never, () => loaded.history.now),
          whenCaughtUp: (p, t) => running.projector.whenCaughtUp(p, t, ['milestones']),
        }),
      ],
    });
    return {
      run: () => scheduler.runNow(MILESTONE_EVENTS_JOB, loaded.history.now),
      async close() {
        await scheduler.stop();
        await running.close();
        await readStore.close();
      },
    };
  }
  const milestoneEvents = async () => (await loaded.platform.store.readAll()).filter((e) => e.type.startsWith('milestone.'));

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 21, persons: 150, eventsPerPerson: [3, 25], lateShare: 0.1 });
    writeFileSync(join(loaded.dir, MILESTONES_FILE), JSON.stringify(DEFINITIONS));
  }, 120_000);
  afterAll(() => loaded?.cleanup());

  it('appends each outcome once (deterministic ids, customer streams), nothing on a second run or after a rebuild, anew only for a changed milestone', async () => {
    const asOf = loaded.history.now;
    const expected = expectedOutcomes(await loaded.platform.store.readAll(), asOf, 30);
    const first = await project(loaded.dir, 'a.db');
    const run1 = await first.run();
    expect(run1).toMatchObject({ evaluated: true, due: expected.size, appended: expected.size, duplicates: 0, deferred: 0 });
    expect(expected.size).toBeGreaterThan(100);
    const events = await milestoneEvents();
    const got = new Map(
      events.map((e) => {
        const d = e.data as { milestoneId: string; definition: string; reachedAt?: string; deadlineAt?: string };
        const customer = e.streamId.slice('customer-'.length);
        const kind = e.type === 'milestone.reached' ? 'reached' : 'missed';
        expect(e.eventId).toBe(scheduledEventId(MILESTONE_EVENTS_JOB, [customer, d.milestoneId, d.definition, kind]));
        expect((e.metadata as { occurredAt: string }).occurredAt).toBe(d.reachedAt ?? d.deadlineAt);
        return [`${customer}/${d.milestoneId}`, [kind, d.reachedAt ?? d.deadlineAt]] as const;
      }),
    );
    expect(new Map([...got].sort())).toEqual(new Map([...expected].sort()));
    expect([...expected.values()].filter(([k]) => k === 'missed').length).toBeGreaterThan(20);

    // the read model folds what was appended: nothing is due any more
    expect(await first.run()).toMatchObject({ evaluated: true, due: 0, appended: 0 });
    await first.close();

    // a rebuild from position 0 (a new read store) finds every outcome already announced: no storm
    const rebuilt = await project(loaded.dir, 'b.db');
    expect(await rebuilt.run()).toMatchObject({ evaluated: true, due: 0, appended: 0 });
    await rebuilt.close();

    // a changed deadline of one milestone: only that milestone is announced again, under its new definition
    const changedDir = join(loaded.dir, 'changed');
    mkdirSync(changedDir);
    writeFileSync(
      join(changedDir, MILESTONES_FILE),
      JSON.stringify({
        milestones: [{ ...DEFINITIONS.milestones[0], deadline: { days: 10, from: 'first-touch' } }, DEFINITIONS.milestones[1]],
      }),
    );
    const changed = await project(changedDir, 'c.db');
    const expectedChanged = expectedOutcomes(await loaded.platform.store.readAll(), asOf, 10);
    const onboarding = [...expectedChanged.keys()].filter((k) => k.endsWith('/onboarded')).length;
    expect(await changed.run()).toMatchObject({ evaluated: true, due: onboarding, appended: onboarding, duplicates: 0 });
    expect(await changed.run()).toMatchObject({ due: 0 });
    await changed.close();
    expect((await milestoneEvents()).length).toBe(expected.size + onboarding);
  }, 180_000);
});
