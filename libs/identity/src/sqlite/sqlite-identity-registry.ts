import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { chooseSurvivor, decideSharedIdentifierMerge, followMergeChain, identifierKey, type Identifier } from '@cem/domain';
import { runMigrations } from '@cem/event-store/sqlite/migrations';
import type { IdentityConflict, IdentityRegistry, PendingMerge, Resolution, ResolveRequest, UnmergeMove } from '../port';

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
];

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

  constructor(
    fileOrDb: string | Database.Database,
    private readonly newCustomerId: () => string = randomUUID,
  ) {
    this.ownsDb = typeof fileOrDb === 'string';
    this.db = typeof fileOrDb === 'string' ? new Database(fileOrDb) : fileOrDb;
    if (this.ownsDb) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 10000');
    }
    runMigrations(this.db, 'identity', MIGRATIONS);
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
    return this.db.transaction((reqs: ResolveRequest[]) => reqs.map((r) => this.resolveOne(r))).immediate(requests);
  }

  private resolveOne(req: ResolveRequest): Resolution {
    const keys = [...new Set(req.identifiers.map(identifierKey))];
    const owners = new Map<string, string[]>(); // customer -> keys that led to it
    const unclaimed: string[] = [];
    for (const key of keys) {
      const row = this.stmt.owner.get(key);
      if (!row) {
        unclaimed.push(key);
        continue;
      }
      // identifiers are repointed to the survivor inside the merge's transaction, so an owner is
      // always a live customer: no need to follow merge chains here
      const owner = row.customer_id;
      const keysOfOwner = owners.get(owner);
      if (keysOfOwner) keysOfOwner.push(key);
      else owners.set(owner, [key]);
    }

    if (owners.size === 0) {
      const customerId = this.newCustomerId();
      this.stmt.insertCustomer.run(customerId);
      for (const key of unclaimed) this.stmt.claim.run(key, customerId);
      return { customerId, registered: true, merges: [] };
    }

    if (owners.size === 1) {
      const [customerId] = owners.keys();
      for (const key of unclaimed) this.stmt.claim.run(key, customerId);
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
    for (const key of unclaimed) this.stmt.claim.run(key, survivorId);
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
          for (const id of m.identifiers) this.stmt.own.run(identifierKey(id), m.splitId);
          for (const id of m.keptBySurvivor) this.stmt.own.run(identifierKey(id), m.survivorId);
          const [a, b] = [m.survivorId, m.splitId].sort();
          this.stmt.insertApart.run(a, b);
          this.stmt.insertUnmerge.run(m.unmergeId);
        }
      })
      .immediate();
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
    const row = this.stmt.owner.get(identifierKey(identifier));
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
