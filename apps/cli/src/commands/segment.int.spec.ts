import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReadSide } from '@cem/read-models';
import { envelope } from '../../../../test/support/envelopes';
import { KEYS, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import { runCli } from '../../../../test/support/run-ts';
import { READ_SIDE } from '../../../api/src/customers/read-side.token';

/** `cem segment ...` as the CLI process against a listening API: define, dry-run, list, export; a bad rule exits 1 naming the path. */
describe('cem segment', () => {
  let api: ApiHarness;
  let url: string;
  let dir: string;
  const readSide = () => api.app.get<ReadSide>(READ_SIDE);
  const cli = (args: string[], key = KEYS.analyst) => runCli({ DATA_DIR: dir, CEM_API_URL: url, CEM_API_KEY: key }, ['segment', ...args]);

  beforeAll(async () => {
    api = await startApi();
    dir = mkdtempSync(join(tmpdir(), 'cem-segment-cli-'));
    await api.app.listen(0, '127.0.0.1');
    url = await api.app.getUrl();
    const events = [0, 1, 2].flatMap((i) => {
      const customer = { identifiers: [{ kind: 'email', value: `cli-${i}@example.com` }] };
      return [
        envelope({ customer, channel: i < 2 ? 'phone' : 'chat' }),
        envelope({ customer, type: 'consent.changed', channel: 'web', data: { purpose: 'marketing-email', granted: i === 0 } }),
      ];
    });
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/events:batch',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.ingest}` },
      payload: JSON.stringify({ events }),
    });
    expect(res.statusCode).toBe(200);
    expect(await readSide().whenCaughtUp(await api.platform.store.headPosition())).toBe(true);
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dry-runs, creates, lists and exports a segment; refuses a bad rule naming its path', async () => {
    const rule = { fact: 'channels', op: 'includes', value: 'phone' };
    writeFileSync(join(dir, 'rule.json'), JSON.stringify(rule));
    const dry = await cli(['dry-run', '--rule', `@${join(dir, 'rule.json')}`, '--consent-purpose', 'marketing-email']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({ evaluated: 3, matched: 2, heldBack: 1 });

    const bad = await cli([
      'create',
      'phone',
      '--name',
      'Phone',
      '--rule',
      JSON.stringify({ all: [rule, { fact: 'channels', op: 'includes', value: 'fax' }] }),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('rule.all[1].value: must be one of phone, chat');

    const created = await cli([
      'create',
      'phone',
      '--name',
      'Phone callers',
      '--rule',
      JSON.stringify(rule),
      '--consent-purpose',
      'marketing-email',
    ]);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ segmentId: 'phone', version: 1 });
    await readSide().evaluateSegmentsNow!();
    expect(await readSide().whenCaughtUp(await api.platform.store.headPosition())).toBe(true);

    const list = await cli(['list']);
    expect(list.code).toBe(0);
    expect(list.out.split('\n')[1]).toMatch(/^phone\s+active\s+1\s+2\s+1\s+Phone callers$/);
    const exported = await cli(['export', 'phone']);
    expect(exported.out.trim().split('\r\n')).toHaveLength(2); // the header and the one consenting member
    expect((await cli(['list'], KEYS.ingest)).err).toContain('403');
  }, 120_000);
});
