import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpsActionPerformedV1 } from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import { recompute } from '../../../../test/support/customer-360-oracle';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { runCli } from '../../../../test/support/run-ts';

/** `cem audit customer` and `cem customer as-of`, run as the CLI process on an embedded data dir. */
describe('cem audit customer / cem customer as-of', () => {
  let loaded: LoadedPlatform;
  let log: RecordedEvent[];
  let survivorId: string;
  let streamsOfSurvivor: Set<string>;

  const cli = (args: string[]) => runCli({ DATA_DIR: loaded.dir }, args);

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 5, persons: 40, eventsPerPerson: [3, 12], lateShare: 0.1 });
    log = await loaded.platform.store.readAll();
    const oracle = recompute(log);
    // the survivor that absorbed the most customers
    const absorbed = new Map<string, string[]>();
    for (const [id, s] of oracle.mergedInto) absorbed.set(s, [...(absorbed.get(s) ?? []), id]);
    [survivorId] = [...absorbed].sort((a, b) => b[1].length - a[1].length)[0];
    streamsOfSurvivor = new Set([survivorId, ...absorbed.get(survivorId)!].map((id) => `customer-${id}`));
  }, 60_000);
  afterAll(() => loaded?.cleanup());

  it('prints the JSON trail of a merged customer: every event of its streams in log order', async () => {
    const { code, out } = await cli(['audit', 'customer', survivorId]);
    expect(code).toBe(0);
    const trail = JSON.parse(out);
    const expected = log.filter((e) => streamsOfSurvivor.has(e.streamId));
    expect(trail.customerId).toBe(survivorId);
    expect(trail.mergedIds.length).toBeGreaterThan(0);
    expect(trail.events.map((e: { position: number }) => e.position)).toEqual(expected.map((e) => e.position));
    expect(trail.events.filter((e: { type: string }) => e.type === 'customers.merged').length).toBe(trail.mergedIds.length);
    expect(trail.headPosition).toBe(log[log.length - 1].position);
  }, 30_000);

  it('writes a Markdown report to --out; a merged-away id is followed to its survivor', async () => {
    const file = join(loaded.dir, 'audit.md');
    const mergedAway = [...streamsOfSurvivor].find((s) => s !== `customer-${survivorId}`)!.slice('customer-'.length);
    const { code, err } = await cli(['audit', 'customer', mergedAway, '--format', 'md', '--out', file]);
    expect(code).toBe(0);
    expect(err).toContain(`merged into ${survivorId}`);
    const md = readFileSync(file, 'utf8');
    expect(md.split('\n')[0]).toBe(`# Audit trail of customer ${survivorId}`);
    const rows = md.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    expect(rows).toHaveLength(log.filter((e) => streamsOfSurvivor.has(e.streamId)).length);
    // no identifier value of these customers reaches the report
    for (const e of log.filter((x) => streamsOfSurvivor.has(x.streamId)))
      for (const id of (e.metadata as { identifiers?: { value: string }[] }).identifiers ?? []) expect(md).not.toContain(id.value);
  }, 30_000);

  it('prints the as-of view of a customer', async () => {
    const { code, out } = await cli(['customer', 'as-of', survivorId, '--at', new Date().toISOString(), '--by', 'recorded']);
    expect(code).toBe(0);
    const view = JSON.parse(out);
    const oracle = recompute(log).customers.get(survivorId)!;
    expect(view).toMatchObject({ by: 'recorded', customerId: survivorId, eventCount: oracle.eventCount, firstSeenAt: oracle.firstSeenAt });
  }, 30_000);

  it.each([
    [['audit', 'customer', 'no-such-customer'], 'no-such-customer: no such customer'],
    [['audit', 'customer', 'x', '--format', 'pdf', '--out', 'never-written.pdf'], '--format "pdf"'],
    [['customer', 'as-of', 'x', '--at', 'yesterday'], '--at "yesterday": expected an ISO-8601 instant'],
    [['customer', 'as-of', 'x', '--at', '2999-01-01T00:00:00Z'], 'is in the future'],
    [['customer', 'as-of', 'x', '--at', '2026-11-01T00:00:00Z', '--by', 'event'], '--by "event": expected occurred or recorded'],
    [['customer', 'as-of', 'no-such-customer', '--at', '2026-11-01T00:00:00Z'], 'no-such-customer: no such customer'],
  ])(
    'refuses %j with exit 1 and a one-line reason',
    async (args, reason) => {
      const { code, out, err } = await cli(args);
      expect([code, out]).toEqual([1, '']);
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(err).toContain(reason);
      expect(existsSync('never-written.pdf')).toBe(false);
    },
    30_000,
  );

  it('records every audit read as an ops event (who read whose trail), a refused one as refused; a bad option is not recorded', async () => {
    const ops = (await loaded.platform.store.readStream('cem-ops')).map((e) => e.data as OpsActionPerformedV1);
    const audits = ops.filter((r) => r.action === 'audit-customer');
    const mergedAway = [...streamsOfSurvivor].find((s) => s !== `customer-${survivorId}`)!.slice('customer-'.length);
    expect(audits.map((r) => [r.parameters.customerId, r.parameters.format, r.parameters.out, r.result])).toEqual([
      [survivorId, 'json', null, 'ok'],
      [mergedAway, 'md', 'audit.md', 'ok'],
      ['no-such-customer', 'json', null, 'refused'],
    ]);
    expect(audits[1].outcome).toContain(`of ${survivorId} (followed from ${mergedAway})`);
    expect(audits[0].actor.kind).toBe('os-user');
  }, 30_000);
});
