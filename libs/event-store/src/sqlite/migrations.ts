import type Database from 'better-sqlite3';

/**
 * One migration step: SQL, or a function for a step SQL cannot express (e.g. computing a hash for
 * every row already stored). It runs inside the migration transaction.
 */
export type MigrationStep = string | ((db: Database.Database) => void);

/**
 * Versioned schema migrations for one component sharing an SQLite file. Each step runs once, in order,
 * in its own IMMEDIATE transaction; `_migrations` remembers how far each component got.
 */
export function runMigrations(db: Database.Database, component: string, steps: MigrationStep[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS _migrations (component TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID');
  db.transaction(() => {
    const row = db.prepare<[string], { version: number }>('SELECT version FROM _migrations WHERE component = ?').get(component);
    const current = row?.version ?? 0;
    if (current > steps.length) {
      throw new Error(`${component}: schema version ${current} is newer than this build knows (${steps.length})`);
    }
    for (let v = current; v < steps.length; v++) {
      const step = steps[v];
      if (typeof step === 'string') db.exec(step);
      else step(db);
    }
    db.prepare(
      'INSERT INTO _migrations (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version',
    ).run(component, steps.length);
  }).immediate();
}
