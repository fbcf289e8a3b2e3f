import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelope } from '../../../../test/support/envelopes';
import { openTestPlatform, privacyKeys } from '../../../../test/support/platform-harness';
import { outcome, runCli, runTs } from '../../../../test/support/run-ts';

jest.setTimeout(180_000);

const EMAIL = 'lotte.smit@example.com';

/**
 * `cem erase` killed with SIGKILL as soon as its certificate is in the log (the test watches the file
 * and kills the process the moment it sees it, so the kill lands in or after the later steps): the
 * data stays whole (everything readable while the key is there, nothing half), and running the command
 * again completes the erasure with the certificate already kept, or says it is already erased.
 */
describe('cem erase interrupted by kill -9', () => {
  const privacy = privacyKeys();
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cem-erase-kill-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const env = () => ({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', ...privacy });
  const open = () => openTestPlatform(dir, privacy);
  const run = (args: string[]) => runCli(env(), args);

  it('completes on a re-run, or was complete: never half', async () => {
    const platform = open();
    let customerId = '';
    for (let i = 0; i < 40; i++) {
      const [r] = await platform.ingestion.ingest([
        envelope({
          customer: { identifiers: [{ kind: 'email', value: EMAIL }] },
          data: { direction: 'inbound', handleSeconds: i + 1, resolved: true, notes: `call ${i} from lotte` },
        }),
      ]);
      customerId = r.customerId;
    }
    await platform.close();

    const child = runTs('apps/cli/src/main.ts', env(), ['erase', customerId, '--reason', 'DSR-kill']);
    const exited = outcome(child);
    const events = new Database(join(dir, 'events.db'), { readonly: true, fileMustExist: true });
    let killed = false;
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      const kept = events.prepare("SELECT count(*) AS n FROM event_log WHERE type = 'personal-data.erased'").get() as { n: number };
      if (kept.n > 0) {
        killed = child.kill('SIGKILL');
        break;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    events.close();
    const first = await exited;
    expect(killed || first.code === 0).toBe(true);

    // whatever point it died at: the certificate is in the log once; the data is whole
    const middle = open();
    const certificates = (await middle.logStore.readAll()).filter((e) => e.type === 'personal-data.erased');
    expect(certificates).toHaveLength(1);
    const erased = await middle.keys!.isErased(customerId);
    const notes = (await middle.store.readAll())
      .filter((e) => e.type === 'contact.handled')
      .map((e) => (e.data as { notes?: string }).notes);
    // all readable (key still there) or all erased (key destroyed): never some of each
    expect(notes.every((n) => n === undefined) || notes.every((n) => typeof n === 'string')).toBe(true);
    expect(notes.every((n) => n === undefined)).toBe(erased);
    await middle.close();

    const again = await run(['erase', customerId, '--reason', 'DSR-kill']);
    if (erased) {
      expect(again.code).toBe(1);
      expect(again.err).toContain('is already erased');
    } else {
      expect(again.code).toBe(0);
      expect(JSON.parse(again.out)).toMatchObject({ customerId, eventId: certificates[0].eventId });
    }

    const after = open();
    expect(await after.keys!.isErased(customerId)).toBe(true);
    expect(await after.registry.lookup({ kind: 'email', value: EMAIL })).toBeUndefined();
    expect(JSON.stringify(await after.store.readAll())).not.toContain('from lotte');
    expect((await after.logStore.readAll()).filter((e) => e.type === 'personal-data.erased')).toHaveLength(1);
    await after.close();
  });
});
