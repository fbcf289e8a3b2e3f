import Database from 'better-sqlite3';
import {
  chooseSurvivor,
  decideSharedIdentifierMerge,
  followMergeChain,
  identifierOfPlainKey,
  PLAIN_IDENTIFIER_INDEX,
  type Identifier,
  type IdentifierIndex,
} from '@cem/domain';
import { runMigrations } from '@cem/event-store/sqlite/migrations';
import {
  IdentifierIndexMismatchError,
  type IdentityConflict,
  type IdentityRegistry,
  type PendingMerge,
  RegistryNotEmptyError,
  type RegistryState,
  type Resolution,
  type ResolveRequest,
  type UnmergeMove,
  newCustomerId,
} from '../port';

const MIGRATIONS = [
  `CREATE TABLE identity_customers (
     customer_id TEXT PRIMARY KEY,
     seq         INTEGER NOT NULL UNIQUE,
     merged_into TEXT
   );
   CREATE TABLE identity_identifiers (
     key         TEXT PRIMARY KEY,
     customer_id TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX identity_identifiers_by_customer ON identity_identifiers (customer_id);
   CREATE TABLE identity_merges (
     merge_id    TEXT PRIMARY KEY,
     survivor_id TEXT NOT NULL,
     merged_ids  TEXT NOT NULL,
     evidence    TEXT NOT NULL,
     occurred_at TEXT NOT NULL,
     source      TEXT NOT NULL,
     confirmed   INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX identity_merges_unconfirmed ON identity_merges (confirmed) WHERE confirmed = 0;`,
  // unmerge: pairs of customers kept apart (lower id first), the unmerges done, and the conflicts met
  `CREATE TABLE identity_apart (
     a TEXT NOT NULL,
     b TEXT NOT NULL,
     PRIMARY KEY (a, b)
   ) WITHOUT ROWID;
   CREATE TABLE identity_unmerges (
     unmerge_id TEXT PRIMARY KEY
   ) WITHOUT ROWID;
   CREATE TABLE identity_conflicts (
     seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
     triggering_event_id TEXT NOT NULL UNIQUE,
     customer_ids        TEXT NOT NULL,
     occurred_at         TEXT NOT NULL,
     source              TEXT NOT NULL,
     recorded_at         TEXT NOT NULL
   );`,
  // 3: which identifier index keys the rows ('identifier-index': the index fingerprint); see applyIndex
  `CREATE TABLE identity_settings (
     name  TEXT PRIMARY KEY,
     value TEXT NOT NULL
   ) WITHOUT ROWID;`,
];

const INDEX_SETTING = 'identifier-index';

export interface SqliteIdentityRegistryOptions {
  newCustomerId?: () => string;
  /**
   * How identifiers are keyed in the file (default: plain `kind:value`). With the blind index, the
   * first open re-keys the rows written in plain (see applyIndex); a file keyed by one index is
   * refused with another, since every lookup would miss and split customers.
   */
  index?: IdentifierIndex;
}

interface MergeRow {
  merge_id: string;
  survivor_id: string;
  merged_ids: string;
  evidence: string;
  occurred_at: string;
  source: string;
}

/**
 * Embedded identity registry. Every resolveBatch is one IMMEDIATE transaction: within a process the
 * call is synchronous, and across processes SQLite's write lock serialises claims, so two writers can
 * never register two customers for one identifier.
 */
export class SqliteIdentityRegistry implements IdentityRegistry {
  readonly canForget = true;
  private readonly db: Database.Database;
  private readonly ownsDb: boolean;
  private readonly stmt;
  private readonly newCustomerId: () => string;
  private readonly index: IdentifierIndex;
  /** how many identifiers this open re-keyed from plain to the blind index (0 when none were plain) */
  readonly rekeyed: number;

  constructor(fileOrDb: string | Database.Database, options: SqliteIdentityRegistryOptions = {}) {
    this.newCustomerId = options.newCustomerId ?? newCustomerId;
    this.index = options.index ?? PLAIN_IDENTIFIER_INDEX;
    this.ownsDb = typeof fileOrDb === 'string';
    this.db = typeof fileOrDb === 'string' ? new Database(fileOrDb) : fileOrDb;
    if (this.ownsDb) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 10000');
    }
    runMigrations(this.db, 'identity', MIGRATIONS);
    this.rekeyed = this.applyIndex();
    this.stmt = {
      owner: this.db.prepare<[string], { customer_id: string }>('SELECT customer_id FROM identity_identifiers WHERE key = ?'),
      customer: this.db.prepare<[string], { customer_id: string; seq: number; merged_into: string | null }>(
        'SELECT customer_id, seq, merged_into FROM identity_customers WHERE customer_id = ?',
      ),
      insertCustomer: this.db.prepare(
        'INSERT INTO identity_customers (customer_id, seq) VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM identity_customers))',
      ),
      claim: this.db.prepare('INSERT INTO identity_identifiers (key, customer_id) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
      markMerged: this.db.prepare('UPDATE identity_customers SET merged_into = ? WHERE customer_id = ?'),
      repoint: this.db.prepare('UPDATE identity_identifiers SET customer_id = ? WHERE customer_id = ?'),
      repointMergedInto: this.db.prepare('UPDATE identity_customers SET merged_into = ? WHERE merged_into = ?'),
      insertMerge: this.db.prepare(
        'INSERT INTO identity_merges (merge_id, survivor_id, merged_ids, evidence, occurred_at, source) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (merge_id) DO NOTHING',
      ),
      pending: this.db.prepare<[], MergeRow>('SELECT * FROM identity_merges WHERE confirmed = 0 ORDER BY rowid'),
      confirm: this.db.prepare('UPDATE identity_merges SET confirmed = 1 WHERE merge_id = ?'),
      apart: this.db.prepare<[string, string], { a: string }>('SELECT a FROM identity_apart WHERE a = ? AND b = ?'),
      insertApart: this.db.prepare('INSERT INTO identity_apart (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      unmergeDone: this.db.prepare<[string], { unmerge_id: string }>('SELECT unmerge_id FROM identity_unmerges WHERE unmerge_id = ?'),
      insertUnmerge: this.db.prepare('INSERT INTO identity_unmerges (unmerge_id) VALUES (?)'),
      unmergeCount: this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM identity_unmerges'),
      own: this.db.prepare(
        'INSERT INTO identity_identifiers (key, customer_id) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET customer_id = excluded.customer_id',
      ),
      insertConflict: this.db.prepare(
        'INSERT INTO identity_conflicts (triggering_event_id, customer_ids, occurred_at, source, recorded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (triggering_event_id) DO NOTHING',
      ),
      conflicts: this.db.prepare<
        [number, number],
        { triggering_event_id: string; customer_ids: string; occurred_at: string; source: string; recorded_at: string }
      >('SELECT * FROM identity_conflicts ORDER BY seq LIMIT ? OFFSET ?'),
    };
  }

  async resolveBatch(requests: ResolveRequest[]): Promise<Resolution[]> {
    return this.resolveBatchSync(requests);
  }

  resolveBatchSync(requests: ResolveRequest[]): Resolution[] {
    return this.db
      .transaction((reqs: ResolveRequest[]) => {
        // the owners looked up or claimed in this transaction: a batch names each customer's identifiers
        // again and again (one event after another), and nobody else writes while we hold the write lock
        const owners = new Map<string, string>();
        return reqs.map((r) => this.resolveOne(r, owners));
      })
      .immediate(requests);
  }

  private resolveOne(req: ResolveRequest, known: Map<string, string>): Resolution {
    const keys = [...new Set(req.identifiers.map(this.index.keyOf))];
    const owners = new Map<string, string[]>(); // customer -> keys that led to it
    const unclaimed: string[] = [];
    for (const key of keys) {
      let owner = known.get(key);
      if (owner === undefined) {
        owner = this.stmt.owner.get(key)?.customer_id;
        if (owner === undefined) {
          unclaimed.push(key);
          continue;
        }
        known.set(key, owner);
      }
      // identifiers are repointed to the survivor inside the merge's transaction, so an owner is
      // always a live customer: no need to follow merge chains here
      const keysOfOwner = owners.get(owner);
      if (keysOfOwner) keysOfOwner.push(key);
      else owners.set(owner, [key]);
    }

    if (owners.size === 0) {
      const customerId = this.newCustomerId();
      this.stmt.insertCustomer.run(customerId);
      for (const key of unclaimed) this.claim(key, customerId, known);
      return { customerId, registered: true, merges: [] };
    }

    if (owners.size === 1) {
      const [customerId] = owners.keys();
      for (const key of unclaimed) this.claim(key, customerId, known);
      return { customerId, registered: false, merges: [] };
    }

    const candidates = [...owners].map(([customerId, identifierKeys]) => ({
      customerId,
      registeredSeq: this.stmt.customer.get(customerId)!.seq,
      identifierKeys,
    }));
    if (this.keptApart(candidates.map((c) => c.customerId))) {
      // an unmerge keeps some of them apart: no merge, no new claims; the event goes to the earliest
      // registered and the conflict is kept for review (docs/identity.md, "Unmerge")
      const order = chooseSurvivor(candidates);
      const customerIds = [order.survivorId, ...order.mergedIds];
      this.stmt.insertConflict.run(
        req.triggeringEventId,
        JSON.stringify(customerIds),
        req.occurredAt,
        req.source,
        new Date().toISOString(),
      );
      return { customerId: customerIds[0], registered: false, merges: [], conflict: customerIds };
    }
    const merge: PendingMerge = decideSharedIdentifierMerge(candidates, req);
    const { survivorId, mergedIds } = merge;
    for (const mergedId of mergedIds) {
      this.stmt.markMerged.run(survivorId, mergedId);
      this.stmt.repointMergedInto.run(survivorId, mergedId);
      this.stmt.repoint.run(survivorId, mergedId);
    }
    // the merged customers' identifiers now belong to the survivor, known ones included: look them up again
    known.clear();
    for (const key of unclaimed) this.claim(key, survivorId, known);
    this.stmt.insertMerge.run(
      merge.mergeId,
      survivorId,
      JSON.stringify(mergedIds),
      JSON.stringify(merge.evidence),
      merge.occurredAt,
      merge.source,
    );
    return { customerId: survivorId, registered: false, merges: [merge] };
  }

  /** Claims an identifier nobody owns (we hold the write lock: nobody else can claim it meanwhile). */
  private claim(key: string, customerId: string, known: Map<string, string>): void {
    this.stmt.claim.run(key, customerId);
    known.set(key, customerId);
  }

  private keptApart(customerIds: string[]): boolean {
    for (let i = 0; i < customerIds.length; i++)
      for (let j = i + 1; j < customerIds.length; j++) {
        const [a, b] = [customerIds[i], customerIds[j]].sort();
        if (this.stmt.apart.get(a, b)) return true;
      }
    return false;
  }

  async unmerge(moves: UnmergeMove[]): Promise<void> {
    this.db
      .transaction(() => {
        for (const m of moves) {
          if (this.stmt.unmergeDone.get(m.unmergeId)) continue;
          this.stmt.markMerged.run(null, m.splitId);
          for (const id of m.restoredIds) this.stmt.markMerged.run(m.splitId, id);
          for (const id of m.identifiers) this.stmt.own.run(this.index.keyOf(id), m.splitId);
          for (const id of m.keptBySurvivor) this.stmt.own.run(this.index.keyOf(id), m.survivorId);
          const [a, b] = [m.survivorId, m.splitId].sort();
          this.stmt.insertApart.run(a, b);
          this.stmt.insertUnmerge.run(m.unmergeId);
        }
      })
      .immediate();
  }

  /** the unmerges done: one row per unmerge, inserted with its move (an unmerge run again moves nothing and adds none) */
  async unmergeGeneration(): Promise<number> {
    return this.stmt.unmergeCount.get()!.n;
  }

  async identityConflicts(options: { offset: number; limit: number }): Promise<IdentityConflict[]> {
    return this.stmt.conflicts.all(options.limit, options.offset).map((r) => ({
      triggeringEventId: r.triggering_event_id,
      customerIds: JSON.parse(r.customer_ids),
      occurredAt: r.occurred_at,
      source: r.source,
      recordedAt: r.recorded_at,
    }));
  }

  async pendingMerges(): Promise<PendingMerge[]> {
    return this.stmt.pending.all().map((r) => ({
      mergeId: r.merge_id,
      survivorId: r.survivor_id,
      mergedIds: JSON.parse(r.merged_ids),
      evidence: JSON.parse(r.evidence),
      occurredAt: r.occurred_at,
      source: r.source,
    }));
  }

  async confirmMerges(mergeIds: string[]): Promise<void> {
    this.db.transaction(() => mergeIds.forEach((id) => this.stmt.confirm.run(id)))();
  }

  async lookup(identifier: Identifier): Promise<string | undefined> {
    const row = this.stmt.owner.get(this.index.keyOf(identifier));
    return row ? this.canonicalSync(row.customer_id) : undefined;
  }

  async canonicalId(customerId: string): Promise<string | undefined> {
    return this.canonicalSync(customerId);
  }

  /** undefined for an id the registry never issued (or a chain that leads to one) */
  private canonicalSync(customerId: string): string | undefined {
    let known = true;
    const id = followMergeChain(customerId, (cur) => {
      const row = this.stmt.customer.get(cur);
      known = row !== undefined;
      return row?.merged_into;
    });
    return known ? id : undefined;
  }

  /**
   * Records the index the rows are keyed by, or re-keys them. A file without a record (written before
   * the record existed: plain) or recorded as plain is re-keyed to the blind index the first time it is
   * opened with one: every identifier row and the identifier keys of every merge's evidence, in one
   * transaction (a crash leaves it all plain, and the next open does it again), with `secure_delete` and
   * the write-ahead log truncated, so no plaintext identifier stays in the file. A file keyed by a blind
   * index is refused when opened without it or with another secret.
   */
  private applyIndex(): number {
    const setting = this.db.prepare<[string], { value: string }>('SELECT value FROM identity_settings WHERE name = ?');
    const record = this.db.prepare(
      'INSERT INTO identity_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    );
    const wanted = this.index.fingerprint;
    if (setting.get(INDEX_SETTING)?.value === wanted) return 0;
    const previousSecureDelete = this.db.pragma('secure_delete', { simple: true });
    this.db.pragma('secure_delete = ON');
    try {
      const rekeyed = this.db
        .transaction(() => {
          const recorded = setting.get(INDEX_SETTING)?.value ?? 'plain';
          if (recorded === wanted) return 0;
          if (recorded !== 'plain') {
            throw new IdentifierIndexMismatchError(
              this.index.mode === 'plain'
                ? 'PRIVACY_INDEX_SECRET: required: the identity registry in platform.db keys identifiers by the blind index (docs/privacy.md)'
                : 'PRIVACY_INDEX_SECRET: differs from the secret the identity registry in platform.db was keyed with; lookups would miss every identifier (docs/privacy.md)',
            );
          }
          let n = 0;
          if (this.index.mode === 'blind') n = this.rekeyPlainRows();
          record.run(INDEX_SETTING, wanted);
          return n;
        })
        .immediate();
      if (rekeyed > 0) this.db.pragma('wal_checkpoint(TRUNCATE)');
      return rekeyed;
    } finally {
      this.db.pragma(`secure_delete = ${Number(previousSecureDelete)}`);
    }
  }

  /** plain `kind:value` keys -> the blind index, in the identifier rows and in merge evidence */
  private rekeyPlainRows(): number {
    const keyOf = (plainKey: string) => this.index.keyOf(identifierOfPlainKey(plainKey));
    const rows = this.db.prepare<[], { key: string; customer_id: string }>('SELECT key, customer_id FROM identity_identifiers').all();
    this.db.exec('DELETE FROM identity_identifiers');
    const insert = this.db.prepare('INSERT INTO identity_identifiers (key, customer_id) VALUES (?, ?)');
    for (const r of rows) insert.run(keyOf(r.key), r.customer_id);
    const setEvidence = this.db.prepare('UPDATE identity_merges SET evidence = ? WHERE merge_id = ?');
    for (const m of this.db.prepare<[], { merge_id: string; evidence: string }>('SELECT merge_id, evidence FROM identity_merges').all()) {
      const evidence = JSON.parse(m.evidence) as { identifiers?: string[] };
      const identifiers = (evidence.identifiers ?? []).map(keyOf).sort();
      setEvidence.run(JSON.stringify({ ...evidence, identifiers }), m.merge_id);
    }
    return rows.length;
  }

  async isEmpty(): Promise<boolean> {
    return this.isEmptySync();
  }

  private isEmptySync(): boolean {
    const tables = [
      'identity_customers',
      'identity_identifiers',
      'identity_merges',
      'identity_apart',
      'identity_unmerges',
      'identity_conflicts',
    ];
    return tables.every((t) => this.db.prepare(`SELECT 1 FROM ${t} LIMIT 1`).get() === undefined);
  }

  /**
   * One IMMEDIATE transaction: the emptiness check and every row, so a refused or failed restore
   * writes nothing and a concurrent writer cannot slip in between. Erased customers keep their row
   * (an erasure here removes identifiers, not customers); every merge is confirmed.
   */
  async restore(state: RegistryState, onProgress?: (done: number, total: number) => void): Promise<void> {
    const total = state.customers.length + state.identifiers.size + state.merges.length + state.unmerges.length + state.conflicts.length;
    let done = 0;
    const step = () => {
      done++;
      if (done % 10_000 === 0) onProgress?.(done, total);
    };
    const insertCustomer = this.db.prepare('INSERT INTO identity_customers (customer_id, seq, merged_into) VALUES (?, ?, ?)');
    this.db
      .transaction(() => {
        if (!this.isEmptySync())
          throw new RegistryNotEmptyError('the identity registry is not empty: a restore writes into an empty registry only');
        state.customers.forEach((c, i) => {
          insertCustomer.run(c.customerId, i + 1, c.mergedInto ?? null);
          step();
        });
        for (const [key, customerId] of state.identifiers) {
          this.stmt.claim.run(key, customerId);
          step();
        }
        for (const m of state.merges) {
          this.stmt.insertMerge.run(
            m.mergeId,
            m.survivorId,
            JSON.stringify(m.mergedIds),
            JSON.stringify(m.evidence),
            m.occurredAt,
            m.source,
          );
          this.stmt.confirm.run(m.mergeId);
          step();
        }
        for (const [a, b] of state.apart) this.stmt.insertApart.run(a, b);
        for (const u of state.unmerges) {
          this.stmt.insertUnmerge.run(u.unmergeId);
          step();
        }
        for (const c of state.conflicts) {
          this.stmt.insertConflict.run(c.triggeringEventId, JSON.stringify(c.customerIds), c.occurredAt, c.source, c.recordedAt);
          step();
        }
      })
      .immediate();
    onProgress?.(total, total);
  }

  async forgetCustomers(customerIds: string[]): Promise<number> {
    const ids = [...new Set(customerIds)];
    const forget = this.db.prepare('DELETE FROM identity_identifiers WHERE customer_id = ?');
    const merges = this.db.prepare<[string, string], { merge_id: string; evidence: string }>(
      'SELECT merge_id, evidence FROM identity_merges WHERE survivor_id = ? OR EXISTS (SELECT 1 FROM json_each(merged_ids) WHERE value = ?)',
    );
    const setEvidence = this.db.prepare('UPDATE identity_merges SET evidence = ? WHERE merge_id = ?');
    // overwrite freed pages, so the removed identifiers do not linger in the file
    this.db.pragma('secure_delete = ON');
    const removed = this.db
      .transaction(() => {
        let n = 0;
        for (const id of ids) {
          n += forget.run(id).changes;
          for (const m of merges.all(id, id)) setEvidence.run(JSON.stringify({ ...JSON.parse(m.evidence), identifiers: [] }), m.merge_id);
        }
        return n;
      })
      .immediate();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return removed;
  }

  async close(): Promise<void> {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
