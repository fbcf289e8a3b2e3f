import type Database from 'better-sqlite3';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { runMigrations } from '@cem/event-store/sqlite/migrations';

export const ROLES = ['ingest', 'analyst', 'ops'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKeyPrincipal {
  keyId: string;
  name: string;
  roles: Role[];
}

const MIGRATIONS = [
  `CREATE TABLE api_keys (
     key_id     TEXT PRIMARY KEY,
     name       TEXT NOT NULL,
     roles      TEXT NOT NULL,
     key_hash   TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     revoked_at TEXT
   );`,
];

/*
 * Keys are 256-bit random secrets, so a single SHA-256 is enough to make the stored hash useless to a
 * thief (no dictionary to try); slow password hashes are for low-entropy human passwords.
 */
const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export function parseRoles(text: string): Role[] {
  const roles = text.split('+').map((r) => r.trim());
  for (const r of roles)
    if (!(ROLES as readonly string[]).includes(r)) throw new Error(`unknown role "${r}"; roles are ${ROLES.join(', ')}`);
  return roles as Role[];
}

/** API keys with roles, stored hashed in the platform database; plus keys provisioned by configuration. */
export class ApiKeyStore {
  private readonly configured = new Map<string, ApiKeyPrincipal>();
  private readonly stmt;

  constructor(
    private readonly db: Database.Database,
    /** `role[+role]:key,...` from configuration (API_KEYS) */
    provisioned?: string,
  ) {
    runMigrations(db, 'api-keys', MIGRATIONS);
    this.stmt = {
      byHash: db.prepare<[string], { key_id: string; name: string; roles: string }>(
        'SELECT key_id, name, roles FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL',
      ),
      insert: db.prepare('INSERT INTO api_keys (key_id, name, roles, key_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
      revoke: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL'),
      list: db.prepare<[], { key_id: string; name: string; roles: string; created_at: string; revoked_at: string | null }>(
        'SELECT key_id, name, roles, created_at, revoked_at FROM api_keys ORDER BY created_at',
      ),
    };
    (provisioned ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .forEach((entry, i) => {
        const colon = entry.indexOf(':');
        if (colon <= 0 || entry.length - colon - 1 < 16)
          throw new Error(`API_KEYS entry ${i + 1}: expected role[+role]:key with a key of at least 16 characters`);
        const roles = parseRoles(entry.slice(0, colon));
        this.configured.set(hashKey(entry.slice(colon + 1)), { keyId: `config-${i + 1}`, name: `configured key ${i + 1}`, roles });
      });
  }

  /** Creates a key; the secret is returned once and only its hash is kept. */
  create(name: string, roles: Role[], now = new Date()): { keyId: string; key: string } {
    const key = `cem_${randomBytes(32).toString('base64url')}`;
    const keyId = randomUUID();
    this.stmt.insert.run(keyId, name, roles.join('+'), hashKey(key), now.toISOString());
    return { keyId, key };
  }

  revoke(keyId: string, now = new Date()): boolean {
    return this.stmt.revoke.run(now.toISOString(), keyId).changes > 0;
  }

  list() {
    return this.stmt.list
      .all()
      .map((r) => ({ keyId: r.key_id, name: r.name, roles: r.roles.split('+'), createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  authenticate(key: string): ApiKeyPrincipal | undefined {
    const hash = hashKey(key);
    const configured = this.configured.get(hash);
    if (configured) return configured;
    const row = this.stmt.byHash.get(hash);
    return row ? { keyId: row.key_id, name: row.name, roles: row.roles.split('+') as Role[] } : undefined;
  }
}
