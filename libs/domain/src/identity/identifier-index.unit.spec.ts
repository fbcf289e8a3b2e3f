import { createHmac, hkdfSync } from 'node:crypto';
import { blindIdentifierIndex, identifierOfPlainKey, PLAIN_IDENTIFIER_INDEX } from './identifier-index';

describe('identifier index', () => {
  const zero = Buffer.alloc(32);

  it('plain keys by kind:value', () => {
    expect(PLAIN_IDENTIFIER_INDEX.keyOf({ kind: 'email', value: 'ana@example.com' })).toBe('email:ana@example.com');
    expect(identifierOfPlainKey('external:shop:42')).toEqual({ kind: 'external', value: 'shop:42' });
  });

  it('blind keys by the documented construction (the vector of docs/privacy.md)', () => {
    const index = blindIdentifierIndex(zero);
    expect(index.keyOf({ kind: 'email', value: 'ana@example.com' })).toBe('email:bi1.K_pIBORhSSuNbKqFvnW6bASDNgXiFGjNbIQZat-ZIgg');
    // recomputed here from the construction, for another identifier
    const indexKey = Buffer.from(hkdfSync('sha256', zero, Buffer.alloc(0), 'cem identifier index', 32));
    const expected = createHmac('sha256', indexKey).update('phone:+31612345678').digest('base64url');
    expect(index.keyOf({ kind: 'phone', value: '+31612345678' })).toBe(`phone:bi1.${expected}`);
  });

  it('remembers recent keys without changing them: the same answers past the memo’s bound, recomputed here', () => {
    const index = blindIdentifierIndex(zero);
    const indexKey = Buffer.from(hkdfSync('sha256', zero, Buffer.alloc(0), 'cem identifier index', 32));
    const recomputed = (value: string) => `email:bi1.${createHmac('sha256', indexKey).update(`email:${value}`).digest('base64url')}`;
    const values = Array.from({ length: 5000 }, (_, i) => `c${i}@example.com`);
    for (const round of [1, 2])
      for (const v of values) if (round === 2 || v.endsWith('7@example.com')) index.keyOf({ kind: 'email', value: v });
    for (const v of [values[0], values[4097], values[4999]]) expect(index.keyOf({ kind: 'email', value: v })).toBe(recomputed(v));
  });

  it('forgets remembered identifiers (named ones, or all) and keys them the same afterwards', () => {
    const index = blindIdentifierIndex(zero);
    const ana = { kind: 'email', value: 'ana@example.com' } as const;
    const ben = { kind: 'email', value: 'ben@example.com' } as const;
    const keys = [index.keyOf(ana), index.keyOf(ben)];
    expect([index.remembers(ana), index.remembers(ben)]).toEqual([true, true]);
    index.forget([ana]);
    expect([index.remembers(ana), index.remembers(ben)]).toEqual([false, true]);
    index.forget();
    expect(index.remembers(ben)).toBe(false);
    expect([index.keyOf(ana), index.keyOf(ben)]).toEqual(keys);
  });

  it('depends on the secret and on the kind; the fingerprint names the secret without holding it', () => {
    const other = Buffer.alloc(32, 1);
    const a = blindIdentifierIndex(zero);
    const b = blindIdentifierIndex(other);
    expect(a.keyOf({ kind: 'crm', value: 'C-1' })).not.toBe(b.keyOf({ kind: 'crm', value: 'C-1' }));
    expect(a.keyOf({ kind: 'crm', value: 'C-1' }).slice(4)).not.toBe(a.keyOf({ kind: 'account', value: 'C-1' }).slice(8));
    expect(a.fingerprint).toMatch(/^blind:[A-Za-z0-9_-]{16}$/);
    expect(a.fingerprint).not.toBe(b.fingerprint);
    expect(blindIdentifierIndex(Buffer.from(zero)).fingerprint).toBe(a.fingerprint);
    expect(() => blindIdentifierIndex(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
