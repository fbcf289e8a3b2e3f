import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedEvent } from '@cem/event-store';
import { recompute } from '../../../../test/support/customer-360-oracle';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { writeCheckpoint } from '../projector/checkpoints';
import { startProjector } from '../projector/projector.module';
import { openSqliteReadStore } from '../store/read-store';
import { milestones } from '.';
import { MILESTONES_FILE } from './milestone-definitions';
import { MilestonesQueries } from './milestones.query';

/*
 * The milestones read model against an independent recomputation from the raw log: each live
 * customer's touch points gathered through the merges, sorted, and the test's own reading of the
 * four definitions below (plain predicates written here, not the projection's condition matcher).
 */

const DEFINITIONS = {
  milestones: [
    { id: 'onboarded', label: 'Bought within 30 days', when: { type: 'purchase.completed' }, deadline: { days: 30, from: 'first-touch' } },
    { id: 'resolved-by-phone', when: { type: 'case.resolved', channels: ['phone', 'email'] } },
    { id: 'promoter', when: { type: 'survey.answered', where: { nps: { gte: 9 } } }, deadline: { days: 365, from: 'onboarded' } },
    { id: 'upgraded', when: { type: 'subscription.changed', where: { change: 'upgrade' } }, deadline: { days: 730, from: 'onboarded' } },
  ],
};

const occurred = (e: RecordedEvent) => (e.metadata as { occurredAt: string }).occurredAt;
const channelOf = (e: RecordedEvent) => (e.metadata as { channel?: string }).channel;
const SYSTEM = new Set(['customer.registered', 'customers.merged', 'customer.merged-into']);
const DAY = 86_400_000;

/** the test's own reading of each definition, on the raw (not upcast) payloads */
const PREDICATES: Record<string, (e: RecordedEvent) => boolean> = {
  onboarded: (e) => e.type === 'purchase.completed',
  'resolved-by-phone': (e) => e.type === 'case.resolved' && ['phone', 'email'].includes(channelOf(e) ?? ''),
  promoter: (e) => {
    if (e.type !== 'survey.answered') return false;
    const d = e.data as { nps?: number; survey?: string; score?: number };
    const nps = d.nps ?? (d.survey === 'nps' ? d.score : undefined);
    return nps !== undefined && nps >= 9;
  },
  upgraded: (e) => e.type === 'subscription.changed' && (e.data as { change: string }).change === 'upgrade',
};
const ANCHOR: Record<string, { from: string; days: number } | undefined> = {
  onboarded: { from: 'first-touch', days: 30 },
  promoter: { from: 'onboarded', days: 365 },
  upgraded: { from: 'onboarded', days: 730 },
};

interface Expected {
  cohort: string;
  firstTouchMs: number;
  matched: number | null;
  reached: number | null;
  missedFrom: number | null;
}

function oracle(log: RecordedEvent[]): Map<string, Map<string, Expected>> {
  const { mergedInto } = recompute(log);
  const byOwner = new Map<string, RecordedEvent[]>();
  for (const e of log) {
    if (SYSTEM.has(e.type)) continue;
    const stream = e.streamId.slice('customer-'.length);
    const owner = mergedInto.get(stream) ?? stream;
    byOwner.set(owner, [...(byOwner.get(owner) ?? []), e]);
  }
  const out = new Map<string, Map<string, Expected>>();
  for (const [owner, events] of byOwner) {
    const sorted = events.map((e) => ({ e, ms: Date.parse(occurred(e)) })).sort((a, b) => a.ms - b.ms || a.e.position - b.e.position);
    const first = sorted[0].ms;
    const results = new Map<string, Expected>();
    for (const id of ['onboarded', 'resolved-by-phone', 'promoter', 'upgraded']) {
      const hit = sorted.find((x) => PREDICATES[id](x.e));
      const matched = hit ? hit.ms : null;
      const anchor = ANCHOR[id];
      let reached = matched;
      let missedFrom: number | null = null;
      if (anchor) {
        const base = anchor.from === 'first-touch' ? first : results.get(anchor.from)!.reached;
        if (base === null) {
          reached = null;
          missedFrom = results.get(anchor.from)!.missedFrom;
        } else {
          const deadline = base + anchor.days * DAY;
          if (matched === null || matched > deadline) {
            reached = null;
            missedFrom = deadline;
          }
        }
      }
      results.set(id, { cohort: new Date(first).toISOString().slice(0, 7), firstTouchMs: first, matched, reached, missedFrom });
    }
    out.set(owner, results);
  }
  return out;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function progressDump(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return JSON.stringify([
      db.prepare('SELECT * FROM ms_progress ORDER BY customer_id, milestone_id').raw().all(),
      db.prepare('SELECT * FROM ms_customers ORDER BY customer_id').raw().all(),
    ]);
  } finally {
    db.close();
  }
}

describe('milestones projection over generated histories', () => {
  let loaded: LoadedPlatform;
  let log: RecordedEvent[];
  let expected: Map<string, Map<string, Expected>>;

  async function project(file: string, batchSize: number) {
    const readStore = await openSqliteReadStore(join(loaded.dir, file));
    // a changed definition recomputed in place at the next start (the platform's default holds it for `cem rebuild`)
    const running = await startProjector({
      store: loaded.platform.store,
      db: readStore.db,
      batchSize,
      dataDir: loaded.dir,
      onVersionChange: 'rebuild-in-place',
      // this read model alone: batch size 1 over the whole log with all six took over 150 s on a loaded 2-core machine
      readModels: [milestones],
    });
    expect(await running.projector.whenCaughtUpToHead(150_000)).toBe(true);
    return {
      readStore,
      running,
      queries: new MilestonesQueries(readStore.db as never, () => loaded.history.now),
      async close() {
        await running.close();
        await readStore.close();
      },
    };
  }

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 13, persons: 300, eventsPerPerson: [3, 30], lateShare: 0.1 });
    writeFileSync(join(loaded.dir, MILESTONES_FILE), JSON.stringify(DEFINITIONS));
    log = await loaded.platform.store.readAll();
    expected = oracle(log);
  }, 300_000);

  afterAll(async () => {
    await loaded?.cleanup();
  });

  it('reaches and misses each milestone as a plain recomputation from the raw log does (late events and merges included)', async () => {
    const p = await project('main.db', 500);
    try {
      const rows = await p.readStore.db
        .selectFrom('ms_progress' as never)
        .selectAll()
        .execute();
      const byCustomer = new Map<string, Map<string, any>>();
      for (const r of rows as any[]) byCustomer.set(r.customer_id, (byCustomer.get(r.customer_id) ?? new Map()).set(r.milestone_id, r));
      expect([...byCustomer.keys()].sort()).toEqual([...expected.keys()].sort());
      let reached = 0;
      let missed = 0;
      for (const [customer, milestones] of expected) {
        for (const [id, e] of milestones) {
          const row = byCustomer.get(customer)!.get(id);
          expect({ customer, id, cohort: row.cohort, matched: row.matched_at, reached: row.reached_at, missed: row.missed_at }).toEqual({
            customer,
            id,
            cohort: e.cohort,
            matched: iso(e.matched),
            reached: iso(e.reached),
            missed: iso(e.missedFrom),
          });
          expect(row.seconds_to_reach === null ? null : Number(row.seconds_to_reach)).toBe(
            e.reached === null ? null : Math.round((e.reached - e.firstTouchMs) / 1000),
          );
          if (e.reached !== null) reached++;
          if (e.missedFrom !== null) missed++;
        }
      }
      // the history is worth testing on: merges, and every outcome occurs
      expect(recompute(log).mergedInto.size).toBeGreaterThan(10);
      expect(reached).toBeGreaterThan(100);
      expect(missed).toBeGreaterThan(50);

      // funnel at the history's end, overall and by cohort, against the oracle
      const asOf = loaded.history.now;
      const funnel = await p.queries.funnel({ groupBy: 'cohort' }, asOf);
      const ids = DEFINITIONS.milestones.map((m) => m.id);
      const cohorts = [...new Set([...expected.values()].map((m) => m.get('onboarded')!.cohort))].sort();
      expect(funnel.groups.map((g) => g.cohort)).toEqual(cohorts);
      for (const group of funnel.groups) {
        const members = [...expected.values()].filter((m) => m.get('onboarded')!.cohort === group.cohort);
        ids.forEach((id, i) => {
          const step = group.steps[i];
          const hit = members.filter((m) => m.get(id)!.reached !== null);
          const miss = members.filter(
            (m) => m.get(id)!.reached === null && m.get(id)!.missedFrom !== null && m.get(id)!.missedFrom! <= asOf,
          );
          const prevHit = i === 0 ? [] : members.filter((m) => m.get(ids[i - 1])!.reached !== null);
          const both = prevHit.filter((m) => m.get(id)!.reached !== null);
          expect(step).toMatchObject({ milestoneId: id, customers: members.length, reached: hit.length, missed: miss.length });
          expect(step.open).toBe(members.length - hit.length - miss.length);
          if (i > 0)
            expect(step.fromPrevious).toBe(prevHit.length === 0 ? null : Math.round((both.length / prevHit.length) * 10_000) / 10_000);
        });
      }

      // time to milestone: exact p50 / p90 (nearest rank) per milestone
      const ttm = await p.queries.timeToMilestone({});
      for (const id of ids) {
        const days = [...expected.values()]
          .map((m) => m.get(id)!)
          .filter((e) => e.reached !== null)
          .map((e) => Math.round((e.reached! - e.firstTouchMs) / 1000))
          .sort((a, b) => a - b);
        const rank = (q: number) => days[Math.ceil(q * days.length) - 1];
        const item = ttm.items.find((t) => t.milestoneId === id)!;
        expect(item.reached).toBe(days.length);
        expect(days.length).toBeGreaterThan(0);
        expect(item.p50Days).toBeCloseTo(rank(0.5) / 86_400, 3);
        expect(item.p90Days).toBeCloseTo(rank(0.9) / 86_400, 3);
      }
    } finally {
      await p.close();
    }
  }, 300_000);

  it('rebuilds byte-identical at another batch size, and a redelivered stretch of the log changes nothing', async () => {
    const a = await project('a.db', 1);
    await a.close();
    const b = await project('b.db', 97);
    await b.close();
    expect(progressDump(join(loaded.dir, 'a.db'))).toEqual(progressDump(join(loaded.dir, 'b.db')));

    // move the checkpoint back 40% of the log and project again: handled twice = handled once
    const before = progressDump(join(loaded.dir, 'b.db'));
    const store = await openSqliteReadStore(join(loaded.dir, 'b.db'));
    const row = await store.db
      .selectFrom('projection_checkpoints')
      .selectAll()
      .where('projection', '=', 'milestones')
      .executeTakeFirstOrThrow();
    await writeCheckpoint(store.db, 'milestones', Math.floor(log.length * 0.6), Number(row.version));
    await store.close();
    const again = await project('b.db', 50);
    await again.close();
    const after = progressDump(join(loaded.dir, 'b.db'));
    expect(after === before).toBe(true);
  }, 300_000);

  it('a changed definition is a new version: the read model is recomputed and the history keeps both', async () => {
    const first = await project('versions.db', 500);
    const v1 = await first.queries.definitions();
    await first.close();
    const changed = {
      milestones: [{ ...DEFINITIONS.milestones[0], deadline: { days: 10, from: 'first-touch' } }, ...DEFINITIONS.milestones.slice(1)],
    };
    writeFileSync(join(loaded.dir, MILESTONES_FILE), JSON.stringify(changed));
    try {
      const second = await project('versions.db', 500);
      try {
        const v2 = await second.queries.definitions();
        expect(v1?.version).toBe(1);
        expect(v2?.version).toBe(2);
        expect(v2?.milestones[0].deadline).toEqual({ days: 10, from: 'first-touch' });
        const history = await second.queries.definitionHistory();
        expect(history.map((h) => [h.version, h.active])).toEqual([
          [1, false],
          [2, true],
        ]);
        // recomputed with the 10-day deadline: every onboarded customer bought within 10 days of the first touch
        const funnel = await second.queries.funnel({});
        const tight = [...expected.values()].filter((m) => {
          const e = m.get('onboarded')!;
          return e.matched !== null && e.matched - e.firstTouchMs <= 10 * DAY;
        });
        expect(funnel.groups[0].steps[0].reached).toBe(tight.length);
      } finally {
        await second.close();
      }
    } finally {
      writeFileSync(join(loaded.dir, MILESTONES_FILE), JSON.stringify(DEFINITIONS));
    }
  }, 300_000);
});
