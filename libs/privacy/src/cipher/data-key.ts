import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';

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
const ZERO = Buffer.from([0]);
/** Values remembered per key and direction (see DataKey.sealField); a customer has a handful of identifiers. */
const FIELD_MEMO_LIMIT = 8;

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
   * The nonce key stays a Buffer: HMACs are cheaper from raw bytes.
   */
  private readonly key: KeyObject;
  /** derived on the first seal: a process that only reads (a rebuild) never needs it */
  private nonceKeyBytes: Buffer | undefined;
  private rawKey: Buffer | undefined;
  /**
   * sealField's results by field, then plaintext JSON; openField's by field, then ciphertext (primitives
   * only); cleared by forget(). Two levels, so a lookup hashes the stored string as it is instead of
   * a new string joining field and value.
   */
  private readonly sealedFields = new Map<string, Map<string, string>>();
  private readonly openedFields = new Map<string, Map<string, unknown>>();

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
    if (key.length === DATA_KEY_BYTES) this.nonceKeyBytes = Buffer.from(key.subarray(32));
    else this.rawKey = Buffer.from(key);
  }

  private get nonceKey(): Buffer {
    if (!this.nonceKeyBytes) {
      this.nonceKeyBytes = Buffer.from(hkdfSync('sha256', this.rawKey!, Buffer.alloc(0), 'cem data-key nonce', 32));
      this.rawKey!.fill(0);
      this.rawKey = undefined;
    }
    return this.nonceKeyBytes;
  }

  /** Seals a value for one place of one event (`aad`: event id, NUL, field path). */
  seal(value: unknown, aad: string): string {
    return SEALED_PREFIX + this.encrypt(Buffer.from(JSON.stringify(value), 'utf8'), Buffer.from(aad, 'utf8'));
  }

  open(sealed: string, aad: string): unknown {
    return this.decrypt(sealed.slice(SEALED_PREFIX.length), aad);
  }

  /** Seals a value for a field (`field`: its name) of any of this customer's events; remembered per key. */
  sealField(value: unknown, field: string): string {
    const json = JSON.stringify(value);
    const memo = memoOf(this.sealedFields, field);
    let sealed = memo.get(json);
    if (sealed === undefined) {
      sealed = FIELD_SEALED_PREFIX + this.encrypt(Buffer.from(json, 'utf8'), Buffer.from(`${FIELD_SEALED_PREFIX}${field}`, 'utf8'));
      remember(memo, json, sealed);
    }
    return sealed;
  }

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
  }

  private encrypt(plaintext: Buffer, associated: Buffer): string {
    const nonce = createHmac('sha256', this.nonceKey).update(associated).update(ZERO).update(plaintext).digest().subarray(0, NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(associated);
    // GCM is a stream mode: update gives the whole ciphertext, final only computes the tag
    const body = cipher.update(plaintext);
    cipher.final();
    const out = Buffer.allocUnsafe(NONCE_BYTES + body.length + TAG_BYTES);
    nonce.copy(out, 0);
    body.copy(out, NONCE_BYTES);
    cipher.getAuthTag().copy(out, NONCE_BYTES + body.length);
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
function remember<V>(memo: Map<string, V>, key: string, value: V): void {
  if (memo.size >= FIELD_MEMO_LIMIT) memo.clear();
  memo.set(key, value);
}
