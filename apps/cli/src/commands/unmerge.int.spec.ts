import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelope } from '../../../../test/support/envelopes';
import { openTestPlatform } from '../../../../test/support/platform-harness';
import { runCli } from '../../../../test/support/run-ts';

/** `cem unmerge` as the CLI process on an embedded data directory: a refusal exits 1 saying why, with nothing changed; then it unmerges and prints JSON. */
describe('cem unmerge', () => {
  let dir: string;
  let survivorId: string;
  let splitId: string;
  const cli = (args: string[]) => runCli({ DATA_DIR: dir }, ['unmerge', ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cem-unmerge-cli-'));
    const platform = openTestPlatform(dir);
    const ana = { kind: 'email', value: 'ana.cli@example.com' };
    const ben = { kind: 'email', value: 'ben.cli@example.com' };
    const [a] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [ana] } })]);
    const [b] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [ben] } })]);
    await platform.ingestion.ingest([envelope({ customer: { identifiers: [ana, ben] } })]);
    [survivorId, splitId] = [a.customerId, b.customerId];
    await platform.close();
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a missing reason and foreign identifiers (exit 1), then unmerges and prints what it recorded', async () => {
    const noReason = await cli([survivorId, '--split', splitId]);
    expect([noReason.code, noReason.err.trim()]).toEqual([1, 'reason: required (why the merge is undone, e.g. a case reference)']);
    const foreign = await cli([survivorId, '--split', splitId, '--identifiers', 'email:ana.cli@example.com', '--reason', 'CASE-9']);
    expect(foreign.code).toBe(1);
    expect(foreign.err).toContain('identifiers: 1 of the identifiers named were not brought to the merge');
    expect(foreign.err).not.toContain('ana.cli@example.com');

    const ok = await cli([survivorId, '--split', splitId, '--reason', 'CASE-9', '--actor', 'ops-anna']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toEqual({
      survivorId,
      unmerged: [
        expect.objectContaining({ splitId, identifierCount: 1, reason: 'CASE-9', requestedBy: { kind: 'named', name: 'ops-anna' } }),
      ],
    });
    const again = await cli([survivorId, '--split', splitId, '--reason', 'CASE-9']);
    expect([again.code, again.err]).toEqual([1, expect.stringContaining('is already undone')]);

    const platform = openTestPlatform(dir);
    try {
      expect(await platform.registry.canonicalId(splitId)).toBe(splitId);
      // every run is an ops action: refused, refused, ok, refused
      const actions = (await platform.store.readStream('cem-ops')).filter((e) => (e.data as { action: string }).action === 'unmerge');
      expect(actions.map((e) => (e.data as { result: string }).result)).toEqual(['refused', 'refused', 'ok', 'refused']);
    } finally {
      await platform.close();
    }
  }, 120_000);
});
