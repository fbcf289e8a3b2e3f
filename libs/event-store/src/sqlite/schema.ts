import type Database from 'better-sqlite3';
import { runMigrations } from './migrations';

/** Versioned migrations of the embedded event store (append only: never edit a released step). */
/*
 * Keys are kept small on purpose: every append inserts into two indexes at random places (a random
 * eventId, an interleaved stream), and SQLite's cost there grows with the key size. UUID event ids
 * are stored as 16-byte blobs (any other id as text), streams are numbered. The `events` view shows
 * the log with readable ids for people and SQL tools.
 */
const MIGRATIONS: string[] = [
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
];

export function migrateEventStore(db: Database.Database): void {
  runMigrations(db, 'event-store', MIGRATIONS);
}
