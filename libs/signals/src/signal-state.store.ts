import Database from 'better-sqlite3';
import { prepareOwnerOnlySqliteFile } from '@cem/event-store/sqlite/owner-only';
import type { SignalCustomerState, SignalStateSource } from './derive';

/**
 * The publisher's own SQLite file: the per-customer slice of state the signals depend on, and the
 * checkpoint (last log position whose signals the broker acknowledged), always written together
 * in one transaction. Deleting the file republishes every signal from position 0 (same ids).
 */
export class SignalStateStore implements SignalStateSource {
  private readonly db: Database.Database;
  private readonly select: Database.Statement<[string], { state: string }>;
  private readonly upsert: Database.Statement<[string, string]>;
  private readonly saveCheckpoint: Database.Statement<[number, string, string]>;

  constructor(file: string, synchronous: 'FULL' | 'NORMAL' | 'OFF' = 'FULL') {
    prepareOwnerOnlySqliteFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS signal_customers (customer_id TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS signal_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL, topic TEXT NOT NULL, updated_at TEXT NOT NULL);
    `);
    this.select = this.db.prepare('SELECT state FROM signal_customers WHERE customer_id = ?');
    this.upsert = this.db.prepare(
      'INSERT INTO signal_customers (customer_id, state) VALUES (?, ?) ON CONFLICT(customer_id) DO UPDATE SET state = excluded.state',
    );
    this.saveCheckpoint = this.db.prepare(
      `INSERT INTO signal_checkpoints (name, position, topic, updated_at) VALUES ('customer-signals', ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET position = excluded.position, topic = excluded.topic, updated_at = excluded.updated_at`,
    );
  }

  get(customerId: string): SignalCustomerState | undefined {
    const row = this.select.get(customerId);
    return row ? (JSON.parse(row.state) as SignalCustomerState) : undefined;
  }

  /** The stored checkpoint (0 before the first commit) and the topic it was published to. */
  checkpoint(): { position: number; topic: string | null } {
    const row = this.db.prepare(`SELECT position, topic FROM signal_checkpoints WHERE name = 'customer-signals'`).get() as
      { position: number; topic: string } | undefined;
    return row ? { position: row.position, topic: row.topic } : { position: 0, topic: null };
  }

  /** Changed states and the new checkpoint, atomically. */
  commit(states: readonly SignalCustomerState[], position: number, topic: string): void {
    this.db.transaction(() => {
      for (const s of states) this.upsert.run(s.customerId, JSON.stringify(s));
      this.saveCheckpoint.run(position, topic, new Date().toISOString());
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
