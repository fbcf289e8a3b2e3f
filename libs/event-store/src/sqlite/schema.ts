import type Database from 'better-sqlite3';
import { runMigrations } from './migrations';

/** Versioned migrations of the embedded event store (append only: never edit a released step). */
const MIGRATIONS: string[] = [
  `CREATE TABLE events (
     position     INTEGER PRIMARY KEY,
     event_id     TEXT    NOT NULL UNIQUE,
     stream_id    TEXT    NOT NULL,
     revision     INTEGER NOT NULL,
     type         TEXT    NOT NULL,
     data         TEXT    NOT NULL,
     metadata     TEXT    NOT NULL,
     content_hash TEXT    NOT NULL,
     recorded_at  TEXT    NOT NULL,
     UNIQUE (stream_id, revision)
   );
   CREATE TABLE streams (
     stream_id TEXT PRIMARY KEY,
     revision  INTEGER NOT NULL
   ) WITHOUT ROWID;`,
];

export function migrateEventStore(db: Database.Database): void {
  runMigrations(db, 'event-store', MIGRATIONS);
}
