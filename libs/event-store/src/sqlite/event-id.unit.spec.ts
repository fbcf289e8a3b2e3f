import { decodeEventId, encodeEventId } from './event-id';

/** What encodeEventId did before it read char codes: the definition of "stored as 16 bytes". */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const byRegex = (id: string): Buffer | string => (UUID.test(id) ? Buffer.from(id.replace(/-/g, ''), 'hex') : id);

/** Small deterministic PRNG so the generated ids are the same on every run. */
function prng(seed: number) {
  return () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

describe('encodeEventId', () => {
  it('stores exactly the ids the UUID regex accepts as 16 bytes, and every other id as its text', () => {
    const random = prng(42);
    const pick = (s: string) => s[Math.floor(random() * s.length)];
    const hex = '0123456789abcdef';
    // characters a near-UUID may be spoiled with: upper case, other letters, hyphens, non-ASCII, surrogates
    const spoilers = 'ABCDEFgxz-_ 9 \u00e9\u0660\uff10\ud83d\u0130\u212a';
    let bytes = 0;
    let texts = 0;
    const mismatches: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      let id = '';
      for (let i = 0; i < 36; i++) id += i === 8 || i === 13 || i === 18 || i === 23 ? '-' : pick(hex);
      const spoil = Math.floor(random() * 4); // 0: a real UUID; else 1-3 spoiled characters or a length change
      for (let k = 0; k < spoil; k++) {
        const at = Math.floor(random() * (id.length + 1));
        const how = random();
        if (how < 0.6) id = id.slice(0, at) + pick(spoilers) + id.slice(at + 1);
        else if (how < 0.8) id = id.slice(0, at) + pick(hex) + id.slice(at);
        else id = id.slice(0, at) + id.slice(at + 1);
      }
      const expected = byRegex(id);
      const actual = encodeEventId(id);
      if (typeof expected === 'string') {
        texts++;
        if (actual !== expected) mismatches.push(id);
      } else {
        bytes++;
        if (typeof actual === 'string' || !actual.equals(expected) || decodeEventId(actual) !== id) mismatches.push(id);
      }
    }
    expect(mismatches).toEqual([]);
    // both kinds were exercised in numbers
    expect(bytes).toBeGreaterThan(4_000);
    expect(texts).toBeGreaterThan(4_000);
  });

  it('keeps ids that are not UUIDs as text', () => {
    for (const id of ['', 'order-1', 'ORD-1', '3F1C2A9E-1B2C-4D5E-8F90-123456789ABC', '3f1c2a9e1b2c4d5e8f90123456789abc'])
      expect(encodeEventId(id)).toBe(id);
  });
});
