import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';

/** Prefix of an encrypted value in a stored event: `cem:enc:1:<base64url(nonce | ciphertext | tag)>`. */
export const SEALED_PREFIX = 'cem:enc:1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export const isSealed = (value: unknown): value is string => typeof value === 'string' && value.startsWith(SEALED_PREFIX);

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
 * construction), so the same value at the same place of the same event always gives the same
 * ciphertext (a retried event is recognised as a duplicate by the store), and two different values
 * never share a nonce. The associated data (event id and field path) binds a ciphertext to its place:
 * moved to another event or field it does not open.
 */
export class DataKey {
  private readonly nonceKey: Buffer;

  constructor(
    readonly keyId: string,
    private readonly key: Buffer,
  ) {
    if (key.length !== 32) throw new Error('a data key is 32 bytes');
    this.nonceKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'cem data-key nonce', 32));
  }

  seal(value: unknown, aad: string): string {
    const plaintext = Buffer.from(JSON.stringify(value), 'utf8');
    const nonce = createHmac('sha256', this.nonceKey).update(aad).update('\0').update(plaintext).digest().subarray(0, NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return SEALED_PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
  }

  open(sealed: string, aad: string): unknown {
    const bytes = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
    if (bytes.length < NONCE_BYTES + TAG_BYTES) throw new SealedValueError(this.keyId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const plaintext = Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
      return JSON.parse(plaintext.toString('utf8'));
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
