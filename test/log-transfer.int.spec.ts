import Database from 'better-sqlite3';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkReplayRange,
  EsdbEventStore,
  exportLog,
  ExportRefusedError,
  importLog,
  ImportRefusedError,
  LogFileError,
  replayRange,
  ReplayRangeError,
  SqliteEventStore,
  verifyLog,
  type EventStore,
  type RecordedEvent,
} from '@cem/event-store';
import { recordOpsAction } from '@cem/platform';
import { openSqliteReadStore, startProjector } from '@cem/read-models';
import { EsdbDouble } from './support/esdb-double';
import { dumpCustomer360, platformWithHistory, type LoadedPlatform } from './support/read-side-harness';

/**
 * `cem export-log` -> `cem import-log`: a log moved from the embedded store into a fresh embedded
 * store and into EventStoreDB (the gRPC double) comes out as the same events, chained the same way,
 * projecting the same read model; a bad file or a non-empty target writes nothing.
 */
describe('log export and import', () => {
  let loaded: LoadedPlatform;
  let source: SqliteEventStore;
  let log: RecordedEvent[];
  let dir: string;
  let file: string;

  async function exportTo(store: EventStore, path: string, storeName = 'sqlite') {
    const out = createWriteStream(path);
    const r = await exportLog(store, (t) => void out.write(t), { storeName, exportedAt: '2026-12-01T00:00:00.000Z' });
    await new Promise<void>((resolve) => out.end(resolve));
    return r;
  }

  const freshSqlite = (name: string) => new SqliteEventStore(join(dir, `${name}.db`), { synchronous: 'NORMAL' });
  const content = (e: RecordedEvent) => ({
    eventId: e.eventId,
    streamId: e.streamId,
    revision: e.revision,
    type: e.type,
    data: e.data,
    metadata: e.metadata,
  });

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 19, persons: 60, eventsPerPerson: [2, 12], lateShare: 0.1 });
    source = loaded.platform.store as SqliteEventStore;
    // an ops record in the log too: the read side must pass over it on both sides
    await recordOpsAction(source, {
      action: 'verify-log',
      actor: { kind: 'named', name: 'test' },
      parameters: {},
      startedAt: '2026-12-01T00:00:00.000Z',
      finishedAt: '2026-12-01T00:00:01.000Z',
      result: 'ok',
      outcome: 'verified',
    });
    log = await source.readAll();
    expect(log.at(-1)).toMatchObject({ streamId: 'cem-ops', type: 'ops.action-performed' });
    dir = mkdtempSync(join(tmpdir(), 'cem-log-transfer-'));
    file = join(dir, 'log.ndjson');
    const r = await exportTo(source, file);
    expect(r).toEqual({ events: log.length, head: source.chainHead() });
  }, 60_000);

  afterAll(async () => {
    await loaded.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a header, one chained line per event and an end line naming the head', () => {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(log.length + 2);
    expect(JSON.parse(lines[0])).toEqual({ format: 'cem-log', version: 1, exportedAt: '2026-12-01T00:00:00.000Z', store: 'sqlite' });
    const first = JSON.parse(lines[1]);
    expect(first).toEqual({ ...log[0], seq: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.parse(lines[lines.length - 1])).toEqual({ end: source.chainHead() });
  });

  it('into a fresh embedded store: the same events, positions, recorded-at and chain head, and the same customer-360 tables', async () => {
    const target = freshSqlite('target');
    try {
      const r = await importLog(target, file, { pageSize: 37 });
      expect(r).toEqual({ events: log.length, head: source.chainHead() });
      expect(await target.readAll()).toEqual(log);
      expect(await verifyLog(target)).toMatchObject({ ok: true, head: source.chainHead() });

      const dumps: Record<string, string>[] = [];
      for (const [store, name] of [
        [source, 'rm-source'],
        [target, 'rm-target'],
      ] as const) {
        const readStore = await openSqliteReadStore(join(dir, `${name}.db`));
        const running = await startProjector({ store, db: readStore.db, readStore, batchSize: 100 });
        expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
        await running.close();
        await readStore.close();
        dumps.push(dumpCustomer360(join(dir, `${name}.db`)));
      }
      expect(dumps[0].c360_timeline.split('\n')).toHaveLength(log.length - 1); // all but the ops record
      expect(dumps[1]).toEqual(dumps[0]);
    } finally {
      await target.close();
    }
  }, 60_000);

  it('into EventStoreDB (the gRPC double): the same events; exported again from there, they import into SQLite unchanged', async () => {
    const server = new EsdbDouble();
    const esdb = EsdbEventStore.connect(await server.start());
    const back = freshSqlite('back');
    try {
      expect(await importLog(esdb, file, { pageSize: 50 })).toMatchObject({ events: log.length, head: source.chainHead() });
      const moved = await esdb.readAll();
      expect(moved.map(content)).toEqual(log.map(content));

      const again = join(dir, 'from-esdb.ndjson');
      const r = await exportTo(esdb, again, 'esdb');
      expect(r.events).toBe(log.length);
      await importLog(back, again);
      // EventStoreDB stamps its own recorded-at (the import time): everything else travels as is
      expect((await back.readAll()).map(content)).toEqual(log.map(content));
      expect(await verifyLog(back)).toMatchObject({ ok: true, head: { seq: log.length, hash: r.head.hash } });
    } finally {
      await back.close();
      await esdb.close();
      server.stop();
    }
  }, 120_000);

  describe('refuses, writing nothing', () => {
    const refusedInto = async (path: string) => {
      const target = freshSqlite(`refused-${Math.random().toString(36).slice(2)}`);
      try {
        const error = await importLog(target, path).catch((e: unknown) => e);
        expect(await target.headPosition()).toBe(0);
        return error as Error;
      } finally {
        await target.close();
      }
    };
    const lines = () => readFileSync(file, 'utf8').trimEnd().split('\n');
    const variant = (name: string, text: string[]) => {
      const path = join(dir, name);
      writeFileSync(path, `${text.join('\n')}\n`);
      return path;
    };

    it('a non-empty store', async () => {
      const target = freshSqlite('non-empty');
      try {
        await target.appendToStream('s-1', [{ eventId: 'e-1', type: 't', data: {} }]);
        await expect(importLog(target, file)).rejects.toThrow(ImportRefusedError);
        await expect(importLog(target, file)).rejects.toThrow(
          'the event store is not empty (head position 1): import-log loads into an empty store only',
        );
        expect(await target.headPosition()).toBe(1);
      } finally {
        await target.close();
      }
    });

    it('a file with one changed byte in an event, naming its line', async () => {
      const text = lines();
      text[5] = text[5].replace(/"occurredAt":"(\d)/, '"occurredAt":"1');
      const e = await refusedInto(variant('changed.ndjson', text));
      expect(e).toBeInstanceOf(LogFileError);
      expect(e.message).toMatch(/^line 6: event #5 \(.+\) does not chain/);
    });

    it('a file with an event left out, a cut file, and not a log file at all', async () => {
      const text = lines();
      const missing = await refusedInto(variant('missing.ndjson', [...text.slice(0, 4), ...text.slice(5)]));
      expect(missing.message).toBe('line 5: "seq" is 5, expected 4: an event is missing or repeated');
      const cut = await refusedInto(variant('cut.ndjson', text.slice(0, -1)));
      expect(cut.message).toBe(`line ${text.length - 1}: no end line after event #${log.length}: the file is cut`);
      const csv = await refusedInto(variant('other.csv', ['a,b,c', '1,2,3']));
      expect(csv.message).toBe('line 1: the header is not JSON');
      const badField = await refusedInto(
        variant('bad-field.ndjson', [text[0], text[1].replace(/"recordedAt":"[^"]+"/, '"recordedAt":"yesterday"'), ...text.slice(2)]),
      );
      expect(badField.message).toBe('line 2: "recordedAt" must be an ISO-8601 instant');
    });
  });

  it('export refuses a log that does not verify', async () => {
    const copy = join(dir, 'tampered.db');
    await source.close();
    try {
      writeFileSync(copy, readFileSync(join(loaded.dir, 'events.db')));
      const db = new Database(copy);
      db.prepare(`UPDATE event_log SET data = '{"forged":true}' WHERE position = 3`).run();
      db.close();
      const tampered = new SqliteEventStore(copy);
      const error = await exportLog(tampered, () => undefined, { storeName: 'sqlite', exportedAt: 'x' }).catch((e: unknown) => e);
      await tampered.close();
      expect(error).toBeInstanceOf(ExportRefusedError);
      expect((error as Error).message).toBe(
        'the log does not verify: event #3 at position 3 does not match its stored hash: its stored bytes were changed (run cem verify-log)',
      );
    } finally {
      // reopen the source for the tests after this one
      loaded.platform.store = source = new SqliteEventStore(join(loaded.dir, 'events.db'), { synchronous: 'NORMAL' });
    }
  });

  describe('replay of a range', () => {
    const collect = async (range: Parameters<typeof replayRange>[1]) => {
      const head = await checkReplayRange(source, range, new Date('2030-01-01T00:00:00Z'));
      const out: RecordedEvent[] = [];
      for await (const page of replayRange(source, range, head, 7)) out.push(...page);
      return out;
    };

    it('by position (inclusive) and by recorded time (from inclusive, to exclusive)', async () => {
      expect(await collect({ by: 'position', from: 5, to: 30 })).toEqual(log.filter((e) => e.position >= 5 && e.position <= 30));
      expect(await collect({ by: 'position', from: log.length })).toEqual(log.slice(-1));
      const t = log[10].recordedAt;
      expect(await collect({ by: 'time', from: t })).toEqual(log.filter((e) => e.recordedAt >= t));
      expect(await collect({ by: 'time', from: '2000-01-01T00:00:00.000Z', to: t })).toEqual(log.filter((e) => e.recordedAt < t));
    });

    it('refuses an inverted range and one beyond the head, naming the option', async () => {
      const check = (range: Parameters<typeof checkReplayRange>[1]) =>
        checkReplayRange(source, range, new Date('2030-01-01T00:00:00Z')).catch((e: unknown) => e as ReplayRangeError);
      const head = log.length;
      expect(await check({ by: 'position', from: 10, to: 5 })).toMatchObject({
        option: '--from-position',
        message: '--from-position: 10 is after --to-position 5 (inverted range)',
      });
      expect(await check({ by: 'position', from: head + 1 })).toMatchObject({
        option: '--from-position',
        message: `--from-position: ${head + 1} is beyond the head of the log (position ${head})`,
      });
      expect(await check({ by: 'position', from: 1, to: head + 5 })).toMatchObject({ option: '--to-position' });
      expect(await check({ by: 'time', from: '2026-02-01T00:00:00.000Z', to: '2026-01-01T00:00:00.000Z' })).toMatchObject({
        option: '--from-time',
      });
      expect(await check({ by: 'time', from: '2031-01-01T00:00:00.000Z' })).toMatchObject({
        option: '--from-time',
        message: '--from-time: 2031-01-01T00:00:00.000Z is in the future: beyond the head of the log',
      });
    });
  });
});
