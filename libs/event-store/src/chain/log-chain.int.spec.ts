import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMigrations } from '../sqlite/migrations';
import { EVENT_STORE_MIGRATIONS } from '../sqlite/schema';
import { SqliteEventStore } from '../sqlite/sqlite-event-store';
import { verifyLog } from './verify-log';

/**
 * The tamper-evidence chain on the embedded store: kept by every append, and `verifyLog` finds the
 * first altered, missing or inserted event when the SQLite file is changed behind the store's back.
 */
describe('log chain on the embedded store', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-chain-'));
    file = join(dir, 'events.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** 20 events over 4 streams; event i carries the marker `note-00i` in its payload. */
  async function writeLog(): Promise<void> {
    const store = new SqliteEventStore(file, { synchronous: 'NORMAL' });
    for (let i = 1; i <= 20; i++) {
      await store.appendToStream(`s-${i % 4}`, [
        { eventId: randomUUID(), type: 't.happened', data: { note: `note-${String(i).padStart(3, '0')}` } },
      ]);
    }
    // a batch and a repeat (nothing written: the chain must not move)
    const again = { eventId: randomUUID(), type: 't.happened', data: { note: 'note-021' } };
    await store.appendMany([
      { streamId: 's-9', events: [again, { eventId: randomUUID(), type: 't.happened', data: { note: 'note-022' } }] },
    ]);
    await store.appendToStream('s-9', [again]);
    await store.close();
  }

  async function verify() {
    const store = new SqliteEventStore(file, { synchronous: 'NORMAL' });
    try {
      return await verifyLog(store, { pageSize: 7 });
    } finally {
      await store.close();
    }
  }

  function sql(fn: (db: Database.Database) => void): void {
    const db = new Database(file);
    try {
      fn(db);
    } finally {
      db.close();
    }
  }

  it('verifies an untouched log and reports its head', async () => {
    await writeLog();
    const result = await verify();
    expect(result).toMatchObject({ ok: true, eventsChecked: 22, head: { seq: 22, position: 22 } });
    const store = new SqliteEventStore(file);
    expect(store.chainHead()).toEqual((result as { head: unknown }).head);
    await store.close();
  });

  it('catches a byte changed directly in the SQLite file, at its position', async () => {
    await writeLog();
    const bytes = readFileSync(file);
    const at = bytes.indexOf('note-007');
    expect(at).toBeGreaterThan(0);
    expect(bytes.indexOf('note-007', at + 1)).toBe(-1);
    bytes[at + 7] = '8'.charCodeAt(0); // note-007 -> note-008: still valid JSON, a different fact
    writeFileSync(file, bytes);
    const result = await verify();
    expect(result).toMatchObject({ ok: false, problem: { kind: 'altered', position: 7, seq: 7 }, verified: { seq: 6, position: 6 } });
  });

  it('catches a deleted event, naming the gap', async () => {
    await writeLog();
    sql((db) => db.prepare('DELETE FROM event_log WHERE position = 12').run());
    const result = await verify();
    expect(result).toMatchObject({ ok: false, problem: { kind: 'missing', beforePosition: 13, seqs: [12, 12] } });
    expect(!result.ok && result.problem.reason).toBe('event #12 is missing before position 13 (after position 11)');
  });

  it('catches an event inserted around the store (no link, and a copied link)', async () => {
    await writeLog();
    const insert = (db: Database.Database, position: number, seq: number | null, hash: Buffer | null) =>
      db
        .prepare(
          `INSERT INTO event_log (position, event_id, stream_no, revision, type, data, metadata, content_hash, recorded_at, chain_seq, chain_hash)
           SELECT ?, ?, stream_no, 100, type, '{"note":"forged"}', metadata, content_hash, recorded_at, ?, ? FROM event_log WHERE position = 3`,
        )
        .run(position, randomUUID(), seq, hash);
    sql((db) => insert(db, 23, null, null));
    expect(await verify()).toMatchObject({ ok: false, problem: { kind: 'inserted', position: 23 }, verified: { seq: 22 } });

    sql((db) => {
      db.prepare('DELETE FROM event_log WHERE position = 23').run();
      // make room in the middle, then insert a forged event carrying the link of the event after it
      db.prepare('UPDATE event_log SET position = position + 100 WHERE position >= 10').run();
      const next = db
        .prepare<[], { chain_seq: number; chain_hash: Buffer }>('SELECT chain_seq, chain_hash FROM event_log WHERE position = 110')
        .get()!;
      insert(db, 109, next.chain_seq, next.chain_hash);
    });
    expect(await verify()).toMatchObject({ ok: false, problem: { kind: 'inserted', position: 109 }, verified: { seq: 9, position: 9 } });
  });

  it('keeps one chain when two store instances (as two processes would) append to one file in turn', async () => {
    const a = new SqliteEventStore(file, { synchronous: 'NORMAL' });
    const b = new SqliteEventStore(file, { synchronous: 'NORMAL' });
    try {
      for (let i = 0; i < 30; i++) {
        const writer = i % 3 === 0 ? b : a; // each reads the last link inside its own transaction
        await writer.appendMany([
          {
            streamId: `s-${i % 5}`,
            events: [
              { eventId: randomUUID(), type: 't', data: { i } },
              { eventId: randomUUID(), type: 't', data: { i, second: true } },
            ],
          },
        ]);
      }
      expect(a.chainHead()).toEqual(b.chainHead());
      expect(await verifyLog(b)).toMatchObject({ ok: true, head: { seq: 60, position: 60 } });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('chains the events of a store written before the chain existed when it is opened (migration)', async () => {
    sql((db) => {
      db.pragma('journal_mode = WAL');
      runMigrations(db, 'event-store', EVENT_STORE_MIGRATIONS.slice(0, 1));
      db.prepare(`INSERT INTO streams (stream_no, stream_id, revision) VALUES (1, 'old-1', 2)`).run();
      const add = db.prepare(
        `INSERT INTO event_log (event_id, stream_no, revision, type, data, metadata, content_hash, recorded_at) VALUES (?, 1, ?, 't', '{}', '{}', 'h', '2026-01-01T00:00:00.000Z')`,
      );
      for (let r = 0; r <= 2; r++) add.run(`old-${r}`, r);
    });
    const store = new SqliteEventStore(file, { synchronous: 'NORMAL' });
    await store.appendToStream('new-1', [{ eventId: randomUUID(), type: 't', data: {} }]);
    expect(store.chainHead()).toMatchObject({ seq: 4, position: 4 });
    await store.close();
    expect(await verify()).toMatchObject({ ok: true, eventsChecked: 4, head: { seq: 4 } });
  });
});
