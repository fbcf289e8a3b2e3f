import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished, runTs } from '../../../../test/support/run-ts';

/**
 * Milestone definitions are configuration (DATA_DIR/milestones.json), not a request: a broken file
 * is refused when the API or the projector starts, exit code 2 and a message naming the file and
 * each JSON path, before anything is opened or written in the data directory.
 */
describe('a broken milestones.json stops the API and the projector at boot', () => {
  const BROKEN: [string, unknown, string[]][] = [
    [
      'a cycle of deadlines',
      {
        milestones: [
          { id: 'a', when: { type: 'case.resolved' }, deadline: { days: 1, from: 'b' } },
          { id: 'b', when: { type: 'case.opened' }, deadline: { days: 1, from: 'a' } },
        ],
      },
      ['milestones.json: milestones[0].deadline.from: cycle: a -> b -> a', 'milestones[1].deadline.from: cycle: b -> a -> b'],
    ],
    [
      'an unknown event type',
      { milestones: [{ id: 'bought', when: { type: 'purchase.complete' } }] },
      ['milestones.json: milestones[0].when.type: unknown event type "purchase.complete"'],
    ],
  ];
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  // each test starts a Node process with the TypeScript register: seconds on a busy machine (timeout 120 s)
  for (const app of ['api', 'projector'] as const)
    it.each(BROKEN)(
      `${app}: %s exits 2 naming the path, nothing written`,
      async (_name, config, messages) => {
        const dataDir = mkdtempSync(join(tmpdir(), 'cem-ms-config-'));
        dirs.push(dataDir);
        writeFileSync(join(dataDir, 'milestones.json'), JSON.stringify(config));
        const failure = await finished(runTs(`apps/${app}/src/main.ts`, { DATA_DIR: dataDir, PORT: '0', API_KEYS: '' })).then(
          () => new Error('the process started'),
          (e: Error) => e,
        );
        expect(failure.message).toMatch(/^exit 2: /);
        for (const m of messages) expect(failure.message).toContain(m);
        // no event store, read store or key store was created beside the configuration
        expect(readdirSync(dataDir)).toEqual(['milestones.json']);
      },
      120_000,
    );
});
