import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SqliteEventStore, type RecordedEvent } from '@cem/event-store';
import type { OpsActionPerformedV1 } from '@cem/domain';
import { openReadStore, READ_MODELS, startProjector } from '@cem/read-models';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { runTs } from '../../../../test/support/run-ts';

/** `cem verify` as an operator runs it: its lines, exit codes (0 equal, 3 drift, 1 refused) and ops records. */
describe('cem verify', () => {
  let loaded: LoadedPlatform;

  const cem = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = runTs('apps/cli/src/main.ts', { DATA_DIR: loaded.dir, SQLITE_SYNCHRONOUS: 'NORMAL' }, args);
      let out = '';
      let err = '';
      child.stdout?.on('data', (d) => (out += d));
      child.stderr?.on('data', (d) => (err += d));
      child.on('exit', (code) => resolve({ code, out, err }));
    });

  const opsRecords = async (): Promise<OpsActionPerformedV1[]> => {
    const store = new SqliteEventStore(join(loaded.dir, 'events.db'));
    try {
      const events: RecordedEvent[] = await store.readStream('cem-ops').catch(() => []);
      return events.map((e) => e.data as OpsActionPerformedV1);
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 3, persons: 30, eventsPerPerson: [2, 8], lateShare: 0 });
    const live = await openReadStore({ kind: 'sqlite', dataDir: loaded.dir }, { role: 'writer' });
    const running = await startProjector({ store: loaded.platform.store, db: live.db, readStore: live, dataDir: loaded.dir });
    await running.projector.whenCaughtUpToHead(60_000);
    await running.close();
    await live.close();
    await loaded.platform.close(); // the CLI opens the data directory itself
  }, 120_000);
  afterAll(async () => loaded.cleanup().catch(() => undefined));

  it('exits 0 when every read model equals its rebuild, 3 with the drifting customer when a row was altered, and records both', async () => {
    const ok = await cem(['verify', '--no-progress', '--actor', 'auditor-1']);
    expect(ok.code).toBe(0);
    expect(
      ok.out
        .trim()
        .split('\n')
        .map((l) => l.split(':')[0] + ' ' + l.split(' ')[1]),
    ).toEqual(READ_MODELS.map((m) => `${m.name} equal`));

    const file = new Database(join(loaded.dir, 'read-models.db'));
    const { customer_id: altered } = file.prepare('SELECT customer_id FROM c360_customers ORDER BY customer_id LIMIT 1').get() as {
      customer_id: string;
    };
    file.prepare("UPDATE c360_customers SET doc = '{}' WHERE customer_id = ?").run(altered);
    file.close();

    const drift = await cem(['verify', 'customer-360', '--no-progress']);
    expect(drift.code).toBe(3);
    expect(drift.out).toMatch(/^customer-360: DRIFT at position \d+ {2}live [0-9a-f]{16} {2}rebuilt [0-9a-f]{16}/);
    expect(drift.out).toContain('  table c360_customers: live ');
    expect(drift.out).toContain(`  1 customer(s) differ: ${altered}\n`);

    const json = await cem(['verify', 'customer-360', '--json', '--no-progress']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.out)).toMatchObject([
      { readModel: 'customer-360', status: 'drift', driftTables: ['c360_customers'], driftCustomers: [altered] },
    ]);

    const records = (await opsRecords()).filter((r) => r.action === 'verify');
    expect(records.map((r) => [r.actor.name, r.result, r.parameters.readModels, r.outcome])).toEqual([
      ['auditor-1', 'ok', READ_MODELS.map((m) => m.name).join(','), `${READ_MODELS.length} read model(s) match the log`],
      [expect.any(String), 'ok', 'customer-360', 'drift in customer-360 (1 customers)'],
      [expect.any(String), 'ok', 'customer-360', 'drift in customer-360 (1 customers)'],
    ]);
  }, 180_000);

  it('refuses an unknown read model with exit 1, naming the known ones, and records nothing', async () => {
    const before = (await opsRecords()).length;
    const r = await cem(['verify', 'customer-360', 'nosuch']);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toBe(`unknown read model nosuch (known: ${READ_MODELS.map((m) => m.name).join(', ')}, or all)\n`);
    expect((await opsRecords()).length).toBe(before);
  }, 60_000);
});
