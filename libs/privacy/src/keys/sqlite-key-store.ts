import Database from 'better-sqlite3';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { prepareOwnerOnlySqliteFile } from '@cem/event-store/sqlite/owner-only';
import { runMigrations } from '@cem/event-store/sqlite/migrations';
import { DATA_KEY_BYTES, DataKey } from '../cipher/data-key';
import { CustomerErasedError, MasterKeyMismatchError, UnknownKeyError, type CustomerKeyStore, type KeyLookup } from './key-store';

/** Append-only: a landed step is never edited; a change is a new step. */
const MIGRATIONS = [
  `CREATE TABLE customer_keys (
     customer_id  TEXT PRIMARY KEY,
     key_id       TEXT NOT NULL UNIQUE,
     wrapped      BLOB,
     created_at   TEXT NOT NULL,
     destroyed_at TEXT
   ) WITHOUT ROWID;
   CREATE TABLE key_store_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
];

interface KeyRow {
  customer_id: string;
  key_id: string;
  wrapped: Buffer | null;
}

/** Random bytes of a new key's id (after its time). */
const KEY_ID_RANDOM_BYTES = 6;
/** Random bytes a new key takes: its id's random part, the key (DATA_KEY_BYTES: AES key and nonce key), the nonce that wraps it (12). */
const NEW_KEY_RANDOM_BYTES = KEY_ID_RANDOM_BYTES + DATA_KEY_BYTES + 12;

/**
 * `k-` and 24 hex digits: the creation time in milliseconds (12), then 48 random bits. Time first, so
 * new keys land at the end of the key-id index (with customer ids that are UUIDv7, at the end of the
 * table too) instead of on a random page each: a commit then writes a few pages, not one per new key.
 */
const newKeyId = (now: number, random: Buffer): string => `k-${now.toString(16).padStart(12, '0')}${random.toString('hex')}`;

/** Unwrapped keys kept in memory, at most this many (LRU by insertion). */
const CACHE_LIMIT = 20_000;

/**
 * The embedded key store: one SQLite file (`keys.db` in the data directory, owner-only), one data key
 * per customer, wrapped with AES-256-GCM by the master key (the key id as associated data). Destroying
 * a key overwrites its wrapped bytes (secure_delete) and truncates the write-ahead log, so the file
 * keeps no copy. A check value of the master key is stored at creation, so a wrong master key is
 * refused at boot instead of failing on the first read.
 *
 * Unwrapped keys are cached in memory; every call first reads the erasure generation (one row), so
 * a key destroyed by another process (the CLI) is dropped from this cache before the next read.
 */
export class SqliteKeyStore implements CustomerKeyStore {
  readonly db: Database.Database;
  private readonly cache = new Map<string, DataKey>();
  private generation = '';
  private readonly erasureListeners: (() => void)[] = [];
  private readonly stmt;

  constructor(
    filename: string,
    private readonly masterKey: Buffer,
  ) {
    prepareOwnerOnlySqliteFile(filename);
    this.db = new Database(filename);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('secure_delete = ON');
    runMigrations(this.db, 'key-store', MIGRATIONS);
    this.stmt = {
      setting: this.db.prepare<[string], { value: string }>('SELECT value FROM key_store_settings WHERE name = ?'),
      setSetting: this.db.prepare(
        'INSERT INTO key_store_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
      ),
      byCustomer: this.db.prepare<[string], KeyRow>('SELECT customer_id, key_id, wrapped FROM customer_keys WHERE customer_id = ?'),
      // the keys of a page of events in one query (a JSON array of key ids)
      byKeyIds: this.db.prepare<[string], KeyRow>(
        'SELECT customer_id, key_id, wrapped FROM customer_keys WHERE key_id IN (SELECT value FROM json_each(?))',
      ),
      byCustomerIds: this.db.prepare<[string], KeyRow>(
        'SELECT customer_id, key_id, wrapped FROM customer_keys WHERE customer_id IN (SELECT value FROM json_each(?))',
      ),
      insert: this.db.prepare('INSERT OR IGNORE INTO customer_keys (customer_id, key_id, wrapped, created_at) VALUES (?, ?, ?, ?)'),
      destroy: this.db.prepare('UPDATE customer_keys SET wrapped = NULL, destroyed_at = ? WHERE customer_id = ? AND wrapped IS NOT NULL'),
      count: this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM customer_keys'),
    };
    this.checkMasterKey();
  }

  /** Number of customer keys ever created (destroyed ones included). */
  keyCount(): number {
    return this.stmt.count.get()!.n;
  }

  /** A setting kept in the key store (e.g. where encryption started in the log). */
  setting(name: string): string | undefined {
    return this.stmt.setting.get(name)?.value;
  }
  setSetting(name: string, value: string): void {
    this.stmt.setSetting.run(name, value);
  }
  deleteSetting(name: string): void {
    this.db.prepare('DELETE FROM key_store_settings WHERE name = ?').run(name);
  }

  async keysFor(customerIds: readonly string[]): Promise<Map<string, DataKey>> {
    const { out, missing } = this.fromCache<DataKey>(customerIds, 'c:');
    if (missing.length === 0) return out;
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    // one call to the random source for the whole batch: per new key 6 bytes of key id, 64 of key, 12 of wrapping nonce
    const random = randomBytes(missing.length * NEW_KEY_RANDOM_BYTES);
    // INSERT OR IGNORE then read back: two processes creating one customer's key agree on the first one
    const created = this.db
      .transaction(() =>
        missing.map((id, i) => {
          const r = random.subarray(i * NEW_KEY_RANDOM_BYTES, (i + 1) * NEW_KEY_RANDOM_BYTES);
          const keyId = newKeyId(nowMs, r.subarray(0, KEY_ID_RANDOM_BYTES));
          const key = r.subarray(KEY_ID_RANDOM_BYTES, KEY_ID_RANDOM_BYTES + DATA_KEY_BYTES);
          const inserted =
            this.stmt.insert.run(id, keyId, this.wrap(keyId, key, r.subarray(KEY_ID_RANDOM_BYTES + DATA_KEY_BYTES)), now).changes === 1;
          // ours went in: use it as it is, without unwrapping what was just wrapped; otherwise read the one that won
          return inserted ? { row: { customer_id: id, key_id: keyId, wrapped: null }, key } : { row: this.stmt.byCustomer.get(id)! };
        }),
      )
      .immediate();
    for (const { row, key } of created) {
      if (key) out.set(row.customer_id, this.remember(row, key));
      else if (!row.wrapped) throw new CustomerErasedError(row.customer_id);
      else out.set(row.customer_id, this.remember(row));
    }
    random.fill(0);
    return out;
  }

  async keysById(keyIds: readonly string[]): Promise<Map<string, KeyLookup>> {
    const { out, missing } = this.fromCache<KeyLookup>(keyIds, '');
    if (missing.length === 0) return out;
    const rows = new Map(this.stmt.byKeyIds.all(JSON.stringify(missing)).map((row) => [row.key_id, row]));
    for (const keyId of missing) {
      const row = rows.get(keyId);
      if (!row) throw new UnknownKeyError(keyId);
      out.set(keyId, row.wrapped ? this.remember(row) : 'destroyed');
    }
    return out;
  }

  async keysOfCustomers(customerIds: readonly string[]): Promise<Map<string, KeyLookup>> {
    const { out, missing } = this.fromCache<KeyLookup>(customerIds, 'c:');
    if (missing.length === 0) return out;
    for (const row of this.stmt.byCustomerIds.all(JSON.stringify(missing)))
      out.set(row.customer_id, row.wrapped ? this.remember(row) : 'destroyed');
    return out;
  }

  async destroy(customerIds: readonly string[], at: string): Promise<string[]> {
    const destroyed = this.db
      .transaction(() => {
        const ids: string[] = [];
        for (const id of new Set(customerIds)) {
          const row = this.stmt.byCustomer.get(id);
          if (row?.wrapped && this.stmt.destroy.run(at, id).changes > 0) ids.push(row.key_id);
        }
        this.stmt.setSetting.run('erasure-generation', `${at}/${randomBytes(8).toString('hex')}`);
        return ids;
      })
      .immediate();
    // the write-ahead log still holds the pages with the wrapped keys until it is checkpointed and truncated
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.dropCache();
    this.generation = this.stmt.setting.get('erasure-generation')!.value;
    this.erased();
    return destroyed;
  }

  async isErased(customerId: string): Promise<boolean> {
    const row = this.stmt.byCustomer.get(customerId);
    return row !== undefined && row.wrapped === null;
  }

  onErasure(listener: () => void): void {
    this.erasureListeners.push(listener);
  }

  private erased(): void {
    for (const listener of this.erasureListeners) listener();
  }

  async close(): Promise<void> {
    this.dropCache();
    if (this.db.open) this.db.close();
  }

  /**
   * The cached keys of these ids (after dropping the cache if another process erased since), and the
   * ids not cached; the cache holds each key under its key id and under `c:` + its customer id.
   */
  private fromCache<V extends KeyLookup>(ids: readonly string[], prefix: '' | 'c:'): { out: Map<string, V>; missing: string[] } {
    this.refreshCache();
    const out = new Map<string, V>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const cached = this.cache.get(prefix + id);
      if (cached) out.set(id, cached as V);
      else missing.push(id);
    }
    return { out, missing };
  }

  /** Forgets every unwrapped key and the values each remembers (DataKey.forget). */
  private dropCache(): void {
    for (const key of this.cache.values()) key.forget();
    this.cache.clear();
  }

  private refreshCache(): void {
    const generation = this.stmt.setting.get('erasure-generation')?.value ?? '';
    if (generation !== this.generation) {
      this.dropCache();
      this.generation = generation;
      this.erased();
    }
  }

  /** Caches the row's key: `plain` when this process just created it, else unwrapped from the row. */
  private remember(row: KeyRow, plain?: Buffer): DataKey {
    const key = new DataKey(row.key_id, plain ?? this.unwrap(row.key_id, row.wrapped!));
    if (this.cache.size >= CACHE_LIMIT * 2) this.dropCache();
    this.cache.set(row.key_id, key);
    this.cache.set(`c:${row.customer_id}`, key);
    return key;
  }

  private wrap(keyId: string, key: Buffer, nonce: Buffer): Buffer {
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, nonce);
    cipher.setAAD(Buffer.from(keyId, 'utf8'));
    const body = Buffer.concat([cipher.update(key), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]);
  }

  private unwrap(keyId: string, wrapped: Buffer): Buffer {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.masterKey, wrapped.subarray(0, 12));
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(wrapped.subarray(wrapped.length - 16));
      return Buffer.concat([decipher.update(wrapped.subarray(12, wrapped.length - 16)), decipher.final()]);
    } catch {
      throw new MasterKeyMismatchError(`the key store (key ${keyId})`);
    }
  }

  /** The first open records an HMAC of a fixed label under the master key; later opens compare. */
  private checkMasterKey(): void {
    const check = createHmac('sha256', this.masterKey).update('cem key store master-key check').digest('base64');
    const stored = this.setting('master-key-check');
    if (stored === undefined) this.setSetting('master-key-check', check);
    else if (stored !== check) {
      this.db.close();
      throw new MasterKeyMismatchError('the key store file');
    }
  }
}
