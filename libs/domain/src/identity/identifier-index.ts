import { createHmac, hkdfSync } from 'node:crypto';
import { identifierKey, type Identifier } from './identifier';

/**
 * How identifiers are keyed wherever they are stored to find a customer (the identity registries,
 * the read models' identifier index). `plain` keys by the identifier itself (`kind:value`); `blind`
 * by a keyed hash of it, so the plaintext is not needed to resolve and is not stored there.
 */
export interface IdentifierIndex {
  readonly mode: 'plain' | 'blind';
  /** the stored key of a normalised identifier */
  keyOf(id: Identifier): string;
  /**
   * A value naming the mode and, for `blind`, the secret (an HMAC of a fixed text, never the secret):
   * a store records it and refuses to be opened with another one, since every lookup would miss.
   */
  readonly fingerprint: string;
  /**
   * Drops what the index remembers of these identifiers (every one without an argument): the blind
   * index keeps recent plaintext identifiers in memory to skip recomputing their keys, and an erased
   * customer's must not stay there.
   */
  forget(ids?: readonly Identifier[]): void;
}

/** Keys by `kind:value` (privacy off). */
export const PLAIN_IDENTIFIER_INDEX: IdentifierIndex = {
  mode: 'plain',
  keyOf: identifierKey,
  fingerprint: 'plain',
  forget: () => undefined,
};

/** Blind keys remembered by an index (cleared when full; a bounded memo, not a cache to keep). */
const RECENT_BLIND_KEYS = 4096;

/** The version tag inside a blind key: a later construction would get another tag. */
export const BLIND_KEY_TAG = 'bi1.';

/**
 * The blind index: `kind:bi1.<base64url(HMAC-SHA-256(indexKey, "kind:value"))>`, where indexKey is
 * HKDF-SHA-256 of the 32-byte PRIVACY_INDEX_SECRET (no salt, info "cem identifier index", 32 bytes)
 * and "kind:value" the normalised identifier (emails lower-cased, phones in E.164). The kind stays
 * readable (it is not personal data, and it keeps the kinds apart); the value is a 256-bit HMAC, which
 * cannot be reversed or recomputed without the secret. Deterministic, so equal identifiers meet.
 */
export function blindIdentifierIndex(secret: Buffer): BlindIdentifierIndex {
  return new BlindIdentifierIndex(secret);
}

export class BlindIdentifierIndex implements IdentifierIndex {
  readonly mode = 'blind';
  readonly fingerprint: string;
  private readonly indexKey: Buffer;
  // every event of a customer names the same few identifiers, and each is keyed several times on the
  // way (registry lookup, claim, the read model's index): the last keys are remembered (in memory only;
  // a new HMAC costs several microseconds, mostly node's set-up of the Hmac object)
  private readonly recent = new Map<string, string>();

  constructor(secret: Buffer) {
    if (secret.length !== 32) throw new Error('the identifier index secret must be 32 bytes');
    this.indexKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'cem identifier index', 32));
    this.fingerprint = `blind:${this.mac('cem identifier index fingerprint').slice(0, 16)}`;
  }

  /** a bound function: callers pass it around (`ids.map(index.keyOf)`) */
  readonly keyOf = (id: Identifier): string => {
    const plain = identifierKey(id);
    let key = this.recent.get(plain);
    if (key === undefined) {
      key = `${id.kind}:${BLIND_KEY_TAG}${this.mac(plain)}`;
      if (this.recent.size >= RECENT_BLIND_KEYS) this.recent.clear();
      this.recent.set(plain, key);
    }
    return key;
  };

  forget(ids?: readonly Identifier[]): void {
    if (ids === undefined) this.recent.clear();
    else for (const id of ids) this.recent.delete(identifierKey(id));
  }

  /** true while this identifier is remembered in memory (tests: nothing of an erased customer stays) */
  remembers(id: Identifier): boolean {
    return this.recent.has(identifierKey(id));
  }

  private mac(text: string): string {
    return createHmac('sha256', this.indexKey).update(text, 'utf8').digest('base64url');
  }
}

/** The identifier a plain key (`kind:value`) stands for; the kind never holds a colon. */
export function identifierOfPlainKey(key: string): Identifier {
  const colon = key.indexOf(':');
  return { kind: key.slice(0, colon) as Identifier['kind'], value: key.slice(colon + 1) };
}
