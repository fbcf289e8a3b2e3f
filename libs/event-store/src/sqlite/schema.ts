import type Database from 'better-sqlite3';

/**
 * Versioned migrations of the embedded event store. Each runs once, in order, inside a transaction;
 * `PRAGMA user_version` remembers how far a file got.
 */
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
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`event store file has schema version ${current}, newer than this build knows (${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
