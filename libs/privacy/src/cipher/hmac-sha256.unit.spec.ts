import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { DataKey } from './data-key';
import { HmacSha256 } from './hmac-sha256';

describe('HmacSha256 (two one-shot SHA-256 calls over precomputed pads)', () => {
  it('gives the bytes of createHmac for random keys of every length class and random messages', () => {
    for (const keyLength of [0, 1, 31, 32, 63, 64, 65, 100]) {
      const key = randomBytes(keyLength);
      const hmac = new HmacSha256(key);
      for (const messageLength of [0, 1, 55, 56, 64, 1000, 5000, 20_000]) {
        const bytes = randomBytes(messageLength);
        expect(hmac.mac(bytes, 'hex')).toBe(createHmac('sha256', key).update(bytes).digest('hex'));
        const text = `ünïcødé ✓ ${bytes.toString('base64')}`;
        expect(hmac.mac(text, 'base64')).toBe(createHmac('sha256', key).update(text, 'utf8').digest('base64'));
      }
    }
  });

  it('never prints its key', () => {
    expect(JSON.stringify({ h: new HmacSha256(randomBytes(32)) })).toBe('{"h":"HmacSha256"}');
  });
});

describe('DataKey sealing is unchanged by the MAC without Hmac objects', () => {
  /** The construction as it was written with createHmac (before HmacSha256): stored values must not change. */
  function sealedBefore(raw: Buffer, plaintext: string, associated: string): string {
    const nonce = createHmac('sha256', raw.subarray(32))
      .update(Buffer.from(associated, 'utf8'))
      .update(Buffer.from([0]))
      .update(Buffer.from(plaintext, 'utf8'))
      .digest()
      .subarray(0, 12);
    const cipher = createCipheriv('aes-256-gcm', raw.subarray(0, 32), nonce);
    cipher.setAAD(Buffer.from(associated, 'utf8'));
    const body = cipher.update(Buffer.from(plaintext, 'utf8'));
    cipher.final();
    return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
  }

  it('seals per place and per field to the same bytes as before', () => {
    for (let i = 0; i < 20; i++) {
      const raw = randomBytes(64);
      const key = new DataKey(`k-${i}`, raw);
      const value = i % 2 === 0 ? `person${i}@example.com` : { line1: `Straße ${i}`, city: 'Utrecht ✓' };
      const json = JSON.stringify(value);
      expect(key.seal(value, `e-${i}\0data.comment`)).toBe(`cem:enc:1:${sealedBefore(raw, json, `e-${i}\0data.comment`)}`);
      expect(key.sealField(value, 'identifiers')).toBe(`cem:enc:2:${sealedBefore(raw, json, 'cem:enc:2:identifiers')}`);
    }
  });
});
