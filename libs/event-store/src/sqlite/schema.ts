import type Database from 'better-sqlite3';
import { chainLink, GENESIS_HASH } from '../chain/log-chain';
import { decodeEventId } from './event-id';
import { runMigrations, type MigrationStep } from './migrations';

/** Versioned migrations of the embedded event store (append only: never edit a released step). */
/*
 * Keys are kept small on purpose: every append inserts into two indexes at random places (a random
 * eventId, an interleaved stream), and SQLite's cost there grows with the key size. UUID event ids
 * are stored as 16-byte blobs (any other id as text), streams are numbered. The `events` view shows
 * the log with readable ids for people and SQL tools.
 */
export const EVENT_STORE_MIGRATIONS: MigrationStep[] = [
  `CREATE TABLE streams (
     stream_no INTEGER PRIMARY KEY,
     stream_id TEXT    NOT NULL UNIQUE,
     revision  INTEGER NOT NULL
   );
   CREATE TABLE event_log (
     position     INTEGER PRIMARY KEY,
     event_id     BLOB    NOT NULL UNIQUE,
     stream_no    INTEGER NOT NULL REFERENCES streams (stream_no),
     revision     INTEGER NOT NULL,
     type         TEXT    NOT NULL,
     data         TEXT    NOT NULL,
     metadata     TEXT    NOT NULL,
     content_hash TEXT    NOT NULL,
     recorded_at  TEXT    NOT NULL,
     UNIQUE (stream_no, revision)
   );
   CREATE VIEW events AS
     SELECT e.position,
            CASE WHEN typeof(e.event_id) = 'blob' THEN lower(
              substr(hex(e.event_id), 1, 8) || '-' || substr(hex(e.event_id), 9, 4) || '-' || substr(hex(e.event_id), 13, 4) || '-' ||
              substr(hex(e.event_id), 17, 4) || '-' || substr(hex(e.event_id), 21, 12)) ELSE e.event_id END AS event_id,
            s.stream_id, e.revision, e.type, e.data, e.metadata, e.content_hash, e.recorded_at
       FROM event_log e JOIN streams s USING (stream_no);`,
  // 2: the tamper-evidence chain (see chain/log-chain.ts): each event's link number and link hash,
  // written in the append transaction; events stored before this step get theirs in step 3.
  `ALTER TABLE event_log ADD COLUMN chain_seq INTEGER;
   ALTER TABLE event_log ADD COLUMN chain_hash BLOB;`,
  chainEventsStoredBefore,
];

/** Step 3: computes the chain over the events already stored, in log order, page by page. */
function chainEventsStoredBefore(db: Database.Database): void {
  const page = db.prepare<
    [number],
    {
      position: number;
      event_id: Buffer | string;
      stream_id: string;
      revision: number;
      type: string;
      data: string;
      metadata: string;
      recorded_at: string;
    }
  >(
    `SELECT e.position, e.event_id, s.stream_id, e.revision, e.type, e.data, e.metadata, e.recorded_at
       FROM event_log e JOIN streams s ON s.stream_no = e.stream_no WHERE e.position > ? ORDER BY e.position LIMIT 10000`,
  );
  const set = db.prepare('UPDATE event_log SET chain_seq = ?, chain_hash = ? WHERE position = ?');
  let previous: Buffer = GENESIS_HASH;
  let seq = 0;
  let after = 0;
  for (;;) {
    const rows = page.all(after);
    if (rows.length === 0) break;
    for (const r of rows) {
      seq++;
      previous = chainLink(previous, seq, {
        eventId: decodeEventId(r.event_id),
        streamId: r.stream_id,
        revision: r.revision,
        type: r.type,
        dataJson: r.data,
        metadataJson: r.metadata,
        recordedAt: r.recorded_at,
      });
      set.run(seq, previous, r.position);
      after = r.position;
    }
  }
}

export function migrateEventStore(db: Database.Database): void {
  runMigrations(db, 'event-store', EVENT_STORE_MIGRATIONS);
}
