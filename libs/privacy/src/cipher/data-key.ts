import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { HmacSha256 } from './hmac-sha256';

/**
 * Prefix of a value encrypted for one place of one event: `cem:enc:1:<base64url(nonce | ciphertext | tag)>`,
 * the associated data being the event id and the field path.
 */
export const SEALED_PREFIX = 'cem:enc:1:';
/**
 * Prefix of a value encrypted for a field of the customer's events, whichever event holds it (same
 * layout; the associated data is a field name: EncryptingEventStore uses `identifiers` for every
 * identifier value). Every event of a customer repeats the customer's identifiers: one customer's
 * equal identifiers are stored equal, so each is encrypted and decrypted once per process instead of
 * once per event.
 */
export const FIELD_SEALED_PREFIX = 'cem:enc:2:';
/**
 * The associated data of identifiers sealed per field, wherever they are (the envelope's in the
 * metadata, a registration's or link's in the payload, a merge's evidence, the read store's copies):
 * all are the customer's identifiers, so one value is sealed once for all of them.
 */
export const IDENTIFIER_FIELD = 'identifiers';
/** Bytes of a data key as the key store makes it: the AES-256 key, then the key of the synthetic nonces. */
export const DATA_KEY_BYTES = 64;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Values remembered per key and direction (see DataKey.sealField); a customer has a handful of identifiers. */
const FIELD_MEMO_LIMIT = 8;
/**
 * Per-event values remembered per key once opened (see DataKey.open): the projector's read models
 * each read the log in a lane of their own, so a live event is opened once per lane, a few events
 * apart; this many of a customer's values cover the lanes' distance for the customers of a batch.
 */
const EVENT_MEMO_LIMIT = 16;

export const isSealed = (value: unknown): value is string =>
  typeof value === 'string' && (value.startsWith(SEALED_PREFIX) || value.startsWith(FIELD_SEALED_PREFIX));

/** A sealed value did not open: wrong key, or the bytes were changed. */
export class SealedValueError extends Error {
  constructor(readonly keyId: string) {
    super(`a value encrypted with key ${keyId} does not decrypt (altered bytes or another key)`);
    this.name = 'SealedValueError';
  }
}

/**
 * One customer's data key (AES-256-GCM). Sealing is deterministic: the nonce is an HMAC of the
 * associated data and the plaintext under a key derived from the data key (the synthetic-IV
 * construction), so the same value at the same place always gives the same ciphertext (a retried
 * event is recognised as a duplicate by the store), and two different values never share a nonce.
 * The associated data binds a ciphertext to its place: for `seal`, the event id and field path (moved
 * to another event or field it does not open); for `sealField`, the field name (moved to a field of
 * another name it does not open; within fields of that name of this customer's events it does).
 */
export class DataKey {
  /**
   * The AES key as a KeyObject: each cipher made from it skips copying and checking raw key bytes.
   */
  private readonly key: KeyObject;
  /** the HMAC of the synthetic nonces; for older keys derived on the first seal (a process that only reads never needs it) */
  private nonceHmac: HmacSha256 | undefined;
  private rawKey: Buffer | undefined;
  /**
   * sealField's results by field, then plaintext JSON; openField's by field, then ciphertext (primitives
   * only); cleared by forget(). Two levels, so a lookup hashes the stored string as it is instead of
   * a new string joining field and value.
   */
  private readonly sealedFields = new Map<string, Map<string, string>>();
  private readonly openedFields = new Map<string, Map<string, unknown>>();
  /**
   * open's results (primitives only) by ciphertext, with the associated data they opened under: a
   * ciphertext moved to another event or path still has to open there (and fails), not come from here
   */
  private readonly openedValues = new Map<string, { aad: string; value: unknown }>();

  /**
   * `key`: 64 bytes, the AES key then the nonce key (keys made since the nonce key is stored with the
   * key: making one costs no HKDF), or 32 bytes, the AES key alone (older keys: the nonce key is derived
   * from it by HKDF on the first seal).
   */
  constructor(
    readonly keyId: string,
    key: Buffer,
  ) {
    if (key.length !== 32 && key.length !== DATA_KEY_BYTES) throw new Error(`a data key is ${DATA_KEY_BYTES} bytes (32 for older keys)`);
    this.key = createSecretKey(key.subarray(0, 32));
    // copies: the caller may wipe its buffer
    if (key.length === DATA_KEY_BYTES) this.nonceHmac = new HmacSha256(key.subarray(32));
    else this.rawKey = Buffer.from(key);
  }

  private get nonceKey(): HmacSha256 {
    if (!this.nonceHmac) {
      const derived = Buffer.from(hkdfSync('sha256', this.rawKey!, Buffer.alloc(0), 'cem data-key nonce', 32));
      this.nonceHmac = new HmacSha256(derived);
      derived.fill(0);
      this.rawKey!.fill(0);
      this.rawKey = undefined;
    }
    return this.nonceHmac;
  }

  /** Seals a value for one place of one event (`aad`: event id, NUL, field path). */
  seal(value: unknown, aad: string): string {
    return SEALED_PREFIX + this.encrypt(JSON.stringify(value), aad);
  }

  open(sealed: string, aad: string): unknown {
    const known = this.openedValues.get(sealed);
    if (known !== undefined && known.aad === aad) return known.value;
    const value = this.decrypt(sealed.slice(SEALED_PREFIX.length), aad);
    // objects are not shared between the reads that hold them (a reader may change its copy)
    if (value === null || typeof value !== 'object') remember(this.openedValues, sealed, { aad, value }, EVENT_MEMO_LIMIT);
    return value;
  }

  /** Seals a value for a field (`field`: its name) of any of this customer's events; remembered per key. */
  sealField(value: unknown, field: string): string {
    const json = JSON.stringify(value);
    const memo = memoOf(this.sealedFields, field);
    let sealed = memo.get(json);
    if (sealed === undefined) {
      sealed = FIELD_SEALED_PREFIX + this.encrypt(json, `${FIELD_SEALED_PREFIX}${field}`);
      remember(memo, json, sealed);
    }
    return sealed;
  }

  /** sealField for the customer's identifiers (IDENTIFIER_FIELD), as a leaf function made once per key */
  readonly sealIdentifier = (value: unknown): string => this.sealField(value, IDENTIFIER_FIELD);

  openField(sealed: string, field: string): unknown {
    const memo = memoOf(this.openedFields, field);
    const known = memo.get(sealed);
    if (known !== undefined || memo.has(sealed)) return known;
    const value = this.decrypt(sealed.slice(FIELD_SEALED_PREFIX.length), `${FIELD_SEALED_PREFIX}${field}`);
    // objects are not shared between the events that hold them (a reader may change its copy)
    if (value === null || typeof value !== 'object') remember(memo, sealed, value);
    return value;
  }

  /** Drops the remembered values (the key store calls it when it drops this key, e.g. on erasure). */
  forget(): void {
    this.sealedFields.clear();
    this.openedFields.clear();
    this.openedValues.clear();
  }

  /**
   * nonce = the first 12 bytes of HMAC(nonce key, associated | 0 | plaintext); out = nonce | ciphertext | tag.
   * Associated data and plaintext are written once, into the bytes the MAC reads, and the cipher reads
   * its parts of them; the nonce is written straight into the output.
   */
  private encrypt(plaintext: string, associated: string): string {
    const aadLength = Buffer.byteLength(associated, 'utf8');
    const textLength = Buffer.byteLength(plaintext, 'utf8');
    const message = Buffer.allocUnsafe(aadLength + 1 + textLength);
    message.write(associated, 0, 'utf8');
    message[aadLength] = 0;
    message.write(plaintext, aadLength + 1, 'utf8');
    const out = Buffer.allocUnsafe(NONCE_BYTES + textLength + TAG_BYTES);
    out.write(this.nonceKey.mac(message, 'hex'), 0, NONCE_BYTES, 'hex');
    const cipher = createCipheriv('aes-256-gcm', this.key, out.subarray(0, NONCE_BYTES));
    cipher.setAAD(message.subarray(0, aadLength));
    // GCM is a stream mode: update gives the whole ciphertext, final only computes the tag
    cipher.update(message.subarray(aadLength + 1)).copy(out, NONCE_BYTES);
    cipher.final();
    cipher.getAuthTag().copy(out, NONCE_BYTES + textLength);
    message.fill(0);
    return out.toString('base64url');
  }

  private decrypt(encoded: string, aad: string): unknown {
    const bytes = Buffer.from(encoded, 'base64url');
    if (bytes.length < NONCE_BYTES + TAG_BYTES) throw new SealedValueError(this.keyId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const text = decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)).toString('utf8');
      decipher.final(); // checks the tag: `text` is used only when it passes
      return JSON.parse(text);
    } catch {
      throw new SealedValueError(this.keyId);
    }
  }

  /** Never print key material (util.inspect, JSON, template strings). */
  toJSON(): { keyId: string } {
    return { keyId: this.keyId };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DataKey(${this.keyId})`;
  }
}

function memoOf<V>(memos: Map<string, Map<string, V>>, field: string): Map<string, V> {
  let memo = memos.get(field);
  if (!memo) memos.set(field, (memo = new Map()));
  return memo;
}

/** A small bounded memo: full, it starts over (a customer with more values than the limit is rare). */
function remember<V>(memo: Map<string, V>, key: string, value: V, limit = FIELD_MEMO_LIMIT): void {
  if (memo.size >= limit) memo.clear();
  memo.set(key, value);
}
