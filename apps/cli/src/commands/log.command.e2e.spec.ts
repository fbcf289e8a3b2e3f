import Database from 'better-sqlite3';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type RecordedEvent } from '@cem/event-store';
import type { OpsActionPerformedV1 } from '@cem/domain';
import { checksumReadModel, openReadStoreCopy, READ_MODELS } from '@cem/read-models';
import { platformWithHistory, type LoadedPlatform } from '../../../../test/support/read-side-harness';
import { runCli } from '../../../../test/support/run-ts';

/** The log commands as an operator runs them: exit codes, one-line reasons, and their ops records. */
describe('cem log head / verify-log / export-log / import-log / replay', () => {
  let loaded: LoadedPlatform;
  let work: string;

  const cem = (dataDir: string, args: string[], env: Record<string, string> = {}) =>
    runCli({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', ...env }, args);

  const opsRecords = async (dataDir: string): Promise<OpsActionPerformedV1[]> => {
    const store = new SqliteEventStore(join(dataDir, 'events.db'));
    try {
      const events: RecordedEvent[] = await store.readStream('cem-ops').catch(() => []);
      return events.map((e) => e.data as OpsActionPerformedV1);
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 7, persons: 30, eventsPerPerson: [2, 8], lateShare: 0 });
    await loaded.platform.close(); // the CLI opens the data directory itself
    work = mkdtempSync(join(tmpdir(), 'cem-log-cli-'));
  }, 60_000);
  afterAll(async () => {
    await loaded.cleanup().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  it('prints the head, verifies against it, exports, imports into an empty store and records each action', async () => {
    const head = await cem(loaded.dir, ['log', 'head']);
    expect(head.code).toBe(0);
    const anchor = /anchor: (\d+:[0-9a-f]{64})/.exec(head.out)![1];

    const verified = await cem(loaded.dir, ['verify-log', '--expect-head', anchor, '--actor', 'auditor-1', '--no-progress']);
    expect(verified).toMatchObject({ code: 0, out: expect.stringMatching(/^log verified: \d+ events in /) });

    const file = join(work, 'log.ndjson');
    expect((await cem(loaded.dir, ['export-log', '--out', file, '--no-progress'])).code).toBe(0);
    const again = await cem(loaded.dir, ['export-log', '--out', file]);
    expect(again).toMatchObject({ code: 1, err: `--out: ${file} exists; choose a new file (an export never overwrites one)\n` });

    const target = join(work, 'target');
    const imported = await cem(target, ['import-log', file, '--no-progress']);
    expect(imported).toMatchObject({
      code: 0,
      out: expect.stringMatching(
        /^imported \d+ events; head: event #\d+, anchor \d+:[0-9a-f]{64}\nidentity registry: [1-9]\d* customers, [1-9]\d* identifiers, \d+ merges, 0 unmerges, 0 conflicts\n$/,
      ),
    });
    const refused = await cem(target, ['import-log', file, '--no-progress']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(
      /^import-log: the event store is not empty \(head position \d+\): import-log loads into an empty store only \(nothing written\)\n$/,
    );

    const ops = await opsRecords(loaded.dir);
    expect(ops.map((o) => [o.action, o.result, o.actor.kind])).toEqual([
      // log head is recorded too; the anchor it printed stays valid (link n keeps its hash) as verify-log shows
      ['log-head', 'ok', 'os-user'],
      ['verify-log', 'ok', 'named'],
      ['export-log', 'ok', 'os-user'],
    ]);
    expect(ops[1]).toMatchObject({
      actor: { name: 'auditor-1' },
      parameters: { expectHead: anchor },
      // verified up to the head, one link past the anchor: the log-head record
      figures: { verifiedSeq: Number(anchor.split(':')[0]) + 1 },
    });
    // the moved log carries the source's verify-log record (it was in the log when exported)
    expect((await opsRecords(target)).map((o) => [o.action, o.result])).toEqual([
      ['log-head', 'ok'],
      ['verify-log', 'ok'],
      ['import-log', 'ok'],
      ['import-log', 'refused'],
    ]);
  }, 120_000);

  it('exits 3 with the first problem when the log was altered, and records the failed verification', async () => {
    const copy = join(work, 'tampered');
    const store = new SqliteEventStore(join(copy, 'events.db')); // creates the directory's file with the schema
    await store.close();
    const db = new Database(join(copy, 'events.db'));
    db.exec(
      `ATTACH '${join(loaded.dir, 'events.db')}' AS src; INSERT INTO streams SELECT * FROM src.streams; INSERT INTO event_log SELECT * FROM src.event_log;`,
    );
    db.prepare(`UPDATE event_log SET data = replace(data, '"', '''') WHERE position = 4`).run();
    db.close();
    const r = await cem(copy, ['verify-log', '--no-progress']);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^log NOT verified: event #4 at position 4 does not match its stored hash: its stored bytes were changed\n/);
    // the copy carries the source's ops records, then this one
    expect((await opsRecords(copy)).map((o) => [o.action, o.result, o.outcome]).at(-1)).toEqual([
      'verify-log',
      'failed',
      'event #4 at position 4 does not match its stored hash: its stored bytes were changed',
    ]);
  }, 60_000);

  it('refuses bad input with a one-line reason naming the option and records nothing', async () => {
    const cut = join(work, 'cut.ndjson');
    const lines = readFileSync(join(work, 'log.ndjson'), 'utf8').trimEnd().split('\n');
    writeFileSync(cut, `${lines.slice(0, -1).join('\n')}\n`);
    const empty = join(work, 'empty');
    const bad = await cem(empty, ['import-log', cut, '--no-progress']);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(
      `import-log: ${cut}: line ${lines.length - 1}: no end line after event #${lines.length - 2}: the file is cut (nothing written)\n`,
    );
    expect(await opsRecords(empty)).toEqual([]);

    for (const [args, reason] of [
      [['replay', '--from-position', '10', '--to-position', '5'], '--from-position: 10 is after --to-position 5 (inverted range)\n'],
      [['replay', '--from-position', '0'], '--from-position: expected a whole number >= 1, got "0"\n'],
      [
        ['replay', '--from-time', '2999-01-01T00:00:00Z'],
        '--from-time: 2999-01-01T00:00:00.000Z is in the future: beyond the head of the log\n',
      ],
      [
        ['verify-log', '--expect-head', 'latest'],
        '--expect-head: expected <seq>:<64 hex digits> as printed by cem log head, got "latest"\n',
      ],
    ] as const) {
      const r = await cem(loaded.dir, [...args]);
      expect({ args, code: r.code, err: r.err }).toEqual({ args, code: 1, err: reason });
    }
    const beyond = await cem(loaded.dir, ['replay', '--from-position', '999999']);
    expect(beyond.err).toMatch(/^--from-position: 999999 is beyond the head of the log \(position \d+\)\n$/);
    expect((await opsRecords(loaded.dir)).map((o) => o.action)).toEqual(['log-head', 'verify-log', 'export-log']);
  }, 120_000);

  it('replays a range as NDJSON and records it', async () => {
    const r = await cem(loaded.dir, ['replay', '--from-position', '2', '--to-position', '4', '--no-progress']);
    expect(r.code).toBe(0);
    const events = r.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as RecordedEvent);
    expect(events.map((e) => e.position)).toEqual([2, 3, 4]);
    expect((await opsRecords(loaded.dir)).at(-1)).toMatchObject({
      action: 'replay',
      result: 'ok',
      parameters: { fromPosition: 2, toPosition: 4 },
      figures: { events: 3 },
    });
  }, 60_000);

  it('signs a checkpoint with the configured Ed25519 key; verify-checkpoint and verify-log --checkpoint check it, and catch a forged one', async () => {
    const pem = (k: { export(o: object): string | Buffer }, type: string) => String(k.export({ type, format: 'pem' }));
    const pair = generateKeyPairSync('ed25519');
    const keyFile = join(work, 'checkpoint-key.pem');
    const publicFile = join(work, 'checkpoint-key.pub.pem');
    const otherFile = join(work, 'other.pub.pem');
    writeFileSync(keyFile, pem(pair.privateKey, 'pkcs8'), { mode: 0o600 });
    writeFileSync(publicFile, pem(pair.publicKey, 'spki'));
    writeFileSync(otherFile, pem(generateKeyPairSync('ed25519').publicKey, 'spki'));
    const file = join(work, 'checkpoint.json');

    const unset = await cem(loaded.dir, ['log', 'checkpoint', '--out', file]);
    expect(unset).toMatchObject({ code: 1, err: expect.stringMatching(/^log checkpoint: LOG_CHECKPOINT_KEY_FILE is not set/) });
    const before = (await opsRecords(loaded.dir)).length;
    const signed = await cem(loaded.dir, ['log', 'checkpoint', '--out', file], { LOG_CHECKPOINT_KEY_FILE: keyFile });
    expect(signed.code).toBe(0);
    const checkpoint = JSON.parse(readFileSync(file, 'utf8'));
    // independently: the link the store holds at that number
    const store = new SqliteEventStore(join(loaded.dir, 'events.db'));
    const rows = store.readChainRows(checkpoint.seq - 1, 1);
    const head = store.chainHead();
    await store.close();
    expect(rows[0]).toMatchObject({ position: checkpoint.position });
    expect(head.seq).toBe(checkpoint.seq + 1); // its own ops record follows it
    const records = await opsRecords(loaded.dir);
    expect(records.length).toBe(before + 1);
    expect(records.at(-1)).toMatchObject({
      action: 'log-checkpoint',
      result: 'ok',
      figures: { headSeq: checkpoint.seq, headHash: checkpoint.hash },
    });

    expect(await cem(loaded.dir, ['log', 'verify-checkpoint', file, '--public-key', publicFile])).toMatchObject({
      code: 0,
      out: expect.stringContaining(`anchor: ${checkpoint.seq}:${checkpoint.hash}`),
    });
    expect(await cem(loaded.dir, ['log', 'verify-checkpoint', file], { LOG_CHECKPOINT_KEY_FILE: keyFile })).toMatchObject({ code: 0 });
    expect(await cem(loaded.dir, ['log', 'verify-checkpoint', file, '--public-key', otherFile])).toMatchObject({
      code: 3,
      out: expect.stringMatching(/^checkpoint NOT verified: signed by key [0-9a-f]{16}, not by the key given/),
    });
    const verified = await cem(loaded.dir, ['verify-log', '--checkpoint', file, '--public-key', publicFile, '--no-progress']);
    expect(verified).toMatchObject({ code: 0, out: expect.stringMatching(/^log verified: /) });
    expect((await opsRecords(loaded.dir)).at(-1)).toMatchObject({
      action: 'verify-log',
      result: 'ok',
      parameters: { checkpoint: 'checkpoint.json', expectHead: `${checkpoint.seq}:${checkpoint.hash}` },
    });

    // a checkpoint moved to another link keeps its signature: the signature no longer holds
    const forged = join(work, 'forged.json');
    writeFileSync(forged, JSON.stringify({ ...checkpoint, seq: 1, position: 1 }));
    const recorded = (await opsRecords(loaded.dir)).length;
    expect(await cem(loaded.dir, ['verify-log', '--checkpoint', forged, '--public-key', publicFile])).toMatchObject({
      code: 3,
      out: 'log NOT verified: checkpoint forged.json: the signature does not match its content: the checkpoint was altered, or not signed by this key\n',
    });
    expect(await cem(loaded.dir, ['log', 'verify-checkpoint', forged, '--public-key', publicFile])).toMatchObject({ code: 3 });
    expect((await opsRecords(loaded.dir)).length).toBe(recorded);
    expect(await cem(loaded.dir, ['verify-log', '--checkpoint', file, '--expect-head', `1:${'a'.repeat(64)}`])).toMatchObject({
      code: 1,
      err: 'verify-log: give --expect-head or --checkpoint, not both\n',
    });
    expect(await cem(loaded.dir, ['verify-log', '--checkpoint', join(work, 'none.json'), '--public-key', publicFile])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^--checkpoint: cannot read .*none\.json \(ENOENT\)\n$/),
    });
    writeFileSync(join(work, 'rsa.pem'), pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'spki'));
    expect(await cem(loaded.dir, ['log', 'verify-checkpoint', file, '--public-key', join(work, 'rsa.pem')])).toMatchObject({
      code: 1,
      err: '--public-key: an Ed25519 key is needed, this one is rsa\n',
    });
  }, 180_000);

  it('replay --projection feeds ranges into a scratch copy only: ranges that continue it equal one pass; overlaps, gaps and times refused', async () => {
    const store = new SqliteEventStore(join(loaded.dir, 'events.db'));
    const head = await store.headPosition();
    await store.close();
    const split = Math.floor(head / 2);
    const run = (args: string[]) => cem(loaded.dir, ['replay', '--projection', 'customer-360', '--no-progress', ...args]);
    expect(await run(['--into', 'parts', '--to-position', String(split)])).toMatchObject({
      code: 0,
      out: `customer-360 in copy parts now stands at position ${split} (fed 1-${split})\n`,
    });
    expect((await run(['--into', 'parts', '--from-position', String(split + 1), '--to-position', String(head)])).code).toBe(0);
    expect((await run(['--into', 'whole', '--to-position', String(head)])).code).toBe(0);
    const model = READ_MODELS.find((m) => m.name === 'customer-360')!;
    const checksum = async (name: string) => {
      const copy = await openReadStoreCopy({ kind: 'sqlite', dataDir: loaded.dir }, `replay_${name}`, [model]);
      try {
        return await checksumReadModel(copy.db, 'sqlite', model);
      } finally {
        await copy.close();
      }
    };
    const [parts, whole] = [await checksum('parts'), await checksum('whole')];
    expect(parts.tables.some((t) => t.rows > 0)).toBe(true);
    expect(parts).toEqual(whole);
    expect((await opsRecords(loaded.dir)).at(-1)).toMatchObject({
      action: 'replay',
      result: 'ok',
      parameters: { projection: 'customer-360', into: 'whole', fromPosition: 1, toPosition: head },
    });

    const recorded = (await opsRecords(loaded.dir)).length;
    expect(await run(['--into', 'parts', '--from-position', '2', '--to-position', String(head)])).toMatchObject({
      code: 1,
      err: `--from-position: 2 is not ${head + 1}: the copy parts stands at position ${head} (a range fed twice or with a gap would corrupt the fold)\n`,
    });
    expect(await run(['--into', 'fresh', '--from-position', '5', '--to-position', '9'])).toMatchObject({
      code: 1,
      err: '--from-position: 5 is not 1: the copy fresh is new, and a fold needs every event before the range\n',
    });
    expect(existsSync(join(loaded.dir, 'read-model-copies', 'replay_fresh.db'))).toBe(false); // a refused first range leaves nothing
    expect((await run(['--into', 'x', '--from-time', '2026-01-01T00:00:00Z'])).err).toBe(
      '--from-time: --projection takes positions only (a fold is exact at a position)\n',
    );
    expect((await run(['--to-position', '3'])).err).toBe(
      '--projection: give --into <copy>, the scratch copy to feed (the live copy is never fed)\n',
    );
    expect((await cem(loaded.dir, ['replay', '--projection', 'nope', '--into', 'x', '--to-position', '3'])).err).toMatch(
      /^unknown read model nope/,
    );
    expect((await opsRecords(loaded.dir)).length).toBe(recorded);
  }, 240_000);
});
