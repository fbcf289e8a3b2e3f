import { createHmac, hkdfSync, randomBytes, randomInt } from 'node:crypto';
import { inspect } from 'node:util';
import { hkdfSha256, HmacSha256 } from './keyed-hash';

describe('HmacSha256', () => {
  it('gives the bytes of createHmac("sha256") on random keys (short, block-sized, long) and messages', () => {
    for (let round = 0; round < 300; round++) {
      const key = randomBytes([0, 1, 31, 32, 63, 64, 65, 100, 200][round % 9]);
      const mac = new HmacSha256(key);
      for (let m = 0; m < 5; m++) {
        const text = randomBytes(randomInt(0, 300)).toString('base64') + 'é€😀'.repeat(randomInt(0, 3));
        const bytes = randomBytes(randomInt(0, 200));
        expect(mac.digest(text).equals(createHmac('sha256', key).update(text, 'utf8').digest())).toBe(true);
        expect(mac.digest(bytes, text, bytes).equals(createHmac('sha256', key).update(bytes).update(text).update(bytes).digest())).toBe(
          true,
        );
      }
      expect(mac.digest().equals(createHmac('sha256', key).digest())).toBe(true);
    }
  });

  it('gives independent results: a digest changed by its caller does not change the next one', () => {
    const key = randomBytes(32);
    const mac = new HmacSha256(key);
    const first = mac.digest('a');
    first.fill(0);
    expect(mac.digest('a').equals(createHmac('sha256', key).update('a').digest())).toBe(true);
  });

  it('never shows its key when printed', () => {
    const key = Buffer.from('k'.repeat(32));
    const mac = new HmacSha256(key);
    expect(JSON.stringify({ mac })).not.toContain('k');
    expect(inspect(mac)).toBe('HmacSha256');
  });
});

describe('hkdfSha256', () => {
  it('gives the bytes of hkdfSync("sha256", ikm, empty salt, info, length) on random inputs', () => {
    for (let round = 0; round < 300; round++) {
      const ikm = randomBytes([16, 32, 64, 100][round % 4]);
      const info = `cem ${randomBytes(randomInt(0, 40)).toString('hex')}`;
      const length = [32, 16, 1][round % 3];
      expect(hkdfSha256(ikm, info, length).equals(Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, length)))).toBe(true);
    }
  });

  it('refuses more than one block', () => {
    expect(() => hkdfSha256(randomBytes(32), 'x', 33)).toThrow('at most 32 bytes');
  });
});
