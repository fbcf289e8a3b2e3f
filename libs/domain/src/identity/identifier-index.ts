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
}

/** Keys by `kind:value` (privacy off). */
export const PLAIN_IDENTIFIER_INDEX: IdentifierIndex = { mode: 'plain', keyOf: identifierKey, fingerprint: 'plain' };

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
export function blindIdentifierIndex(secret: Buffer): IdentifierIndex {
  if (secret.length !== 32) throw new Error('the identifier index secret must be 32 bytes');
  const indexKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'cem identifier index', 32));
  const mac = (text: string) => createHmac('sha256', indexKey).update(text, 'utf8').digest('base64url');
  // every event of a customer names the same few identifiers, and each is keyed several times on the
  // way (registry lookup, claim, the read model's index): the last keys are remembered (in memory only;
  // a new HMAC costs several microseconds, mostly node's set-up of the Hmac object)
  const recent = new Map<string, string>();
  return {
    mode: 'blind',
    keyOf: (id) => {
      const plain = identifierKey(id);
      let key = recent.get(plain);
      if (key === undefined) {
        key = `${id.kind}:${BLIND_KEY_TAG}${mac(plain)}`;
        if (recent.size >= RECENT_BLIND_KEYS) recent.clear();
        recent.set(plain, key);
      }
      return key;
    },
    fingerprint: `blind:${mac('cem identifier index fingerprint').slice(0, 16)}`,
  };
}

/** The identifier a plain key (`kind:value`) stands for; the kind never holds a colon. */
export function identifierOfPlainKey(key: string): Identifier {
  const colon = key.indexOf(':');
  return { kind: key.slice(0, colon) as Identifier['kind'], value: key.slice(colon + 1) };
}
