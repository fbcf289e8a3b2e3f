import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventStoreContract } from '../contract/event-store.contract';
import { SqliteEventStore } from './sqlite-event-store';

eventStoreContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-es-'));
  return {
    store: new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('embedded SQLite specifics', () => {
  it('reads back event ids exactly as written, UUID or not, and shows them in the events view', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cem-es-'));
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    try {
      const ids = ['0b6f7d52-8d0e-4a57-9e0b-4f1f3c6d2a10', '0B6F7D52-8D0E-4A57-9E0B-4F1F3C6D2A11', 'crm-export:row-42'];
      await store.appendToStream(
        's-1',
        ids.map((eventId) => ({ eventId, type: 't', data: {} })),
      );
      expect((await store.readStream('s-1')).map((e) => e.eventId)).toEqual(ids);
      expect((await store.readAll()).map((e) => e.eventId)).toEqual(ids);
      const view = store.db.prepare('SELECT event_id, stream_id, revision FROM events ORDER BY position').all();
      expect(view).toEqual(ids.map((event_id, revision) => ({ event_id, stream_id: 's-1', revision })));
      // a repeat of stored events only never leaves an empty stream behind
      await store.appendToStream('s-2', [{ eventId: ids[0], type: 't', data: {} }]);
      expect(store.db.prepare(`SELECT count(*) AS n FROM streams WHERE stream_id = 's-2'`).get()).toEqual({ n: 0 });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded SQLite: a subscription catching up', () => {
  it('gives the event loop a turn between pages, so timers and I/O run during a long catch-up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cem-es-'));
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    try {
      await store.appendToStream(
        's-1',
        Array.from({ length: 50 }, (_, i) => ({ eventId: `e-${i}`, type: 't', data: {} })),
      );
      let macrotaskRan = false;
      setImmediate(() => (macrotaskRan = true));
      const pagesSeenBeforeIt: number[] = [];
      let pages = 0;
      const subscription = store.subscribeToAll({ batchSize: 5 });
      for await (const message of subscription) {
        if (message.type === 'caught-up') break;
        pages++;
        if (!macrotaskRan) pagesSeenBeforeIt.push(pages);
      }
      await subscription.close();
      expect(pages).toBe(10);
      // the callback queued before the catch-up ran after the first page, not after the tenth
      expect(pagesSeenBeforeIt).toEqual([1]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded SQLite: racing writers', () => {
  it('answers a stale expectation with a revision conflict even when an event id exists with other content', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cem-es-'));
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    try {
      // two writers derive the same registration id for a new stream, from different inputs
      const id = '0b6f7d52-8d0e-4a57-9e0b-4f1f3c6d2a10';
      await store.appendToStream('customer-x', [{ eventId: id, type: 'customer.registered', data: { from: 'writer a' } }], {
        expectedRevision: 'no_stream',
      });
      const loser = store.appendToStream('customer-x', [{ eventId: id, type: 'customer.registered', data: { from: 'writer b' } }], {
        expectedRevision: 'no_stream',
      });
      await expect(loser).rejects.toMatchObject({ name: 'WrongExpectedRevisionError', actual: 0 });
      // once the loser re-reads and still writes other content under that id, it is a content conflict
      await expect(
        store.appendToStream('customer-x', [{ eventId: id, type: 'customer.registered', data: { from: 'writer b' } }], {
          expectedRevision: 0,
        }),
      ).rejects.toMatchObject({
        name: 'EventIdConflictError',
      });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
