import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { DataKey, isSealed, SealedValueError } from './data-key';
import { mapPath, reaches, REMOVED } from './personal-paths';

describe('DataKey (AES-256-GCM, synthetic nonce)', () => {
  const key = new DataKey('k-1', randomBytes(32));

  it('opens what it sealed, for strings and objects', () => {
    for (const value of ['ana@example.com', { line1: 'Main St 1', city: 'Utrecht' }, 'ünïcødé ✓']) {
      const sealed = key.seal(value, 'e1\0data.x');
      expect(isSealed(sealed)).toBe(true);
      expect(sealed).not.toContain('example');
      expect(key.open(sealed, 'e1\0data.x')).toEqual(value);
    }
  });

  it('seals the same value at the same place identically, and different values or places differently', () => {
    const a = key.seal('x@example.com', 'e1\0data.a');
    expect(key.seal('x@example.com', 'e1\0data.a')).toBe(a);
    expect(key.seal('y@example.com', 'e1\0data.a')).not.toBe(a);
    expect(key.seal('x@example.com', 'e2\0data.a')).not.toBe(a);
    // different plaintexts never share a nonce (the first 12 bytes)
    const nonce = (s: string) => Buffer.from(s.slice('cem:enc:1:'.length), 'base64url').subarray(0, 12).toString('hex');
    expect(nonce(key.seal('y@example.com', 'e1\0data.a'))).not.toBe(nonce(a));
  });

  it('refuses a ciphertext moved to another place, changed, or opened with another key', () => {
    const sealed = key.seal('secret', 'e1\0data.a');
    expect(() => key.open(sealed, 'e1\0data.b')).toThrow(SealedValueError);
    const bytes = Buffer.from(sealed.slice('cem:enc:1:'.length), 'base64url');
    bytes[14] ^= 1;
    expect(() => key.open(`cem:enc:1:${bytes.toString('base64url')}`, 'e1\0data.a')).toThrow(SealedValueError);
    expect(() => new DataKey('k-2', randomBytes(32)).open(sealed, 'e1\0data.a')).toThrow(SealedValueError);
  });

  it('remembers what open() opened only for the place it opened at: a ciphertext opened once still fails elsewhere', () => {
    const k1 = new DataKey('k-4', randomBytes(32));
    const sealed = k1.seal('a comment with a name in it', 'e1\0data.comment');
    expect(k1.open(sealed, 'e1\0data.comment')).toBe('a comment with a name in it');
    // a second lane reading the same event: the remembered value
    expect(k1.open(sealed, 'e1\0data.comment')).toBe('a comment with a name in it');
    expect(() => k1.open(sealed, 'e2\0data.comment')).toThrow(SealedValueError);
    expect(() => k1.open(sealed, 'e1\0data.other')).toThrow(SealedValueError);
    expect(k1.open(sealed, 'e1\0data.comment')).toBe('a comment with a name in it');
    // objects come back as fresh copies
    const obj = k1.seal({ line1: 'Main St 1' }, 'e1\0data.address');
    (k1.open(obj, 'e1\0data.address') as { line1: string }).line1 = 'changed';
    expect(k1.open(obj, 'e1\0data.address')).toEqual({ line1: 'Main St 1' });
    // more values than the memo holds, then forget(): every value still opens, recomputed
    const many = Array.from({ length: 40 }, (_, i) => [k1.seal(`value ${i}`, `e${i}\0data.comment`), `e${i}\0data.comment`] as const);
    for (const [s, aad] of many) expect(k1.open(s, aad)).toMatch(/^value \d+$/);
    k1.forget();
    for (const [i, [s, aad]] of many.entries()) expect(k1.open(s, aad)).toBe(`value ${i}`);
  });

  it('seals per field: equal values of one field are stored equally in any event, and open only in that field and key', () => {
    const field = 'metadata.identifiers.*.value';
    const a = key.sealField('ana@example.com', field);
    expect(a.startsWith('cem:enc:2:')).toBe(true);
    expect(isSealed(a)).toBe(true);
    expect(a).not.toContain('example');
    expect(key.sealField('ana@example.com', field)).toBe(a);
    expect(key.sealField('bob@example.com', field)).not.toBe(a);
    expect(key.sealField('ana@example.com', 'data.identifiers.*.value')).not.toBe(a);
    expect(key.openField(a, field)).toBe('ana@example.com');
    expect(() => key.openField(a, 'data.identifiers.*.value')).toThrow(SealedValueError);
    expect(() => new DataKey('k-2', randomBytes(32)).openField(a, field)).toThrow(SealedValueError);
    const bytes = Buffer.from(a.slice('cem:enc:2:'.length), 'base64url');
    bytes[14] ^= 1;
    expect(() => key.openField(`cem:enc:2:${bytes.toString('base64url')}`, field)).toThrow(SealedValueError);
  });

  it('gives the same ciphertext and plaintext after forget(), recomputed (the memo changes no result)', () => {
    const bytes = randomBytes(32);
    const k1 = new DataKey('k-3', bytes);
    const sealed = k1.sealField('+31612345678', 'metadata.identifiers.*.value');
    k1.forget();
    expect(k1.sealField('+31612345678', 'metadata.identifiers.*.value')).toBe(sealed);
    expect(new DataKey('k-3', bytes).openField(sealed, 'metadata.identifiers.*.value')).toBe('+31612345678');
    // objects come back as fresh copies: a reader changing one does not change another
    const obj = k1.sealField({ line1: 'Main St 1' }, 'data.address');
    const first = k1.openField(obj, 'data.address') as { line1: string };
    first.line1 = 'changed';
    expect(k1.openField(obj, 'data.address')).toEqual({ line1: 'Main St 1' });
  });

  it('takes 64 bytes (AES key, then the nonce key) or 32 (older keys: the nonce key derived by HKDF); the AES key alone opens', () => {
    const bytes = randomBytes(64);
    const nonceOf = (sealed: string) => Buffer.from(sealed.slice('cem:enc:2:'.length), 'base64url').subarray(0, 12);
    const synthetic = (nonceKey: Buffer, plaintext: unknown) =>
      createHmac('sha256', nonceKey)
        .update(Buffer.from('cem:enc:2:identifiers'))
        .update(Buffer.from([0]))
        .update(JSON.stringify(plaintext))
        .digest()
        .subarray(0, 12);
    const sealed = new DataKey('k-4', bytes).sealField('ana@example.com', 'identifiers');
    expect(nonceOf(sealed)).toEqual(synthetic(bytes.subarray(32), 'ana@example.com'));
    expect(new DataKey('k-4', bytes.subarray(0, 32)).openField(sealed, 'identifiers')).toBe('ana@example.com');
    const older = new DataKey('k-5', bytes.subarray(0, 32)).sealField('ana@example.com', 'identifiers');
    const derived = Buffer.from(hkdfSync('sha256', bytes.subarray(0, 32), Buffer.alloc(0), 'cem data-key nonce', 32));
    expect(nonceOf(older)).toEqual(synthetic(derived, 'ana@example.com'));
    expect(() => new DataKey('k-6', randomBytes(48))).toThrow(/64 bytes/);
  });

  it('never prints its key bytes', () => {
    expect(JSON.stringify({ key })).toBe('{"key":{"keyId":"k-1"}}');
    expect(inspect(key)).toBe('DataKey(k-1)');
  });
});

describe('mapPath', () => {
  const upper = (v: unknown) => String(v).toUpperCase();

  it('maps the values a pattern reaches, with their concrete paths, without changing the input', () => {
    const input = {
      identifiers: [
        { kind: 'email', value: 'a@x' },
        { kind: 'phone', value: '+31' },
      ],
      other: 'keep',
    };
    const seen: string[] = [];
    const out = mapPath(input, ['identifiers', '*', 'value'], (v, p) => (seen.push(p), upper(v)), 'data');
    expect(out).toEqual({
      identifiers: [
        { kind: 'email', value: 'A@X' },
        { kind: 'phone', value: '+31' },
      ],
      other: 'keep',
    });
    expect(seen).toEqual(['data.identifiers.0.value', 'data.identifiers.1.value']);
    expect(input.identifiers[0].value).toBe('a@x');
  });

  it('removes keys, and drops an array element in which a value was removed', () => {
    expect(mapPath({ firstName: 'Ana', address: { city: 'U' } }, ['*'], () => REMOVED, 'data')).toEqual({});
    expect(mapPath({ identifiers: [{ kind: 'email', value: 'a@x' }] }, ['identifiers', '*', 'value'], () => REMOVED, 'd')).toEqual({
      identifiers: [],
    });
    expect(mapPath({ evidence: { identifiers: ['email:a@x'], rule: 'r' } }, ['evidence', 'identifiers', '*'], () => REMOVED, 'd')).toEqual({
      evidence: { identifiers: [], rule: 'r' },
    });
  });

  it('reaches: whether a pattern finds a value, without copying', () => {
    expect(reaches({ identifiers: [{ kind: 'email', value: 'a@x' }] }, ['identifiers', '*', 'value'])).toBe(true);
    expect(reaches({ identifiers: [{ kind: 'email' }] }, ['identifiers', '*', 'value'])).toBe(false);
    expect(reaches({ identifiers: [] }, ['identifiers', '*', 'value'])).toBe(false);
    expect(reaches({ comment: null }, ['comment'])).toBe(false);
    expect(reaches({ comment: '' }, ['comment'])).toBe(true);
    expect(reaches({ a: 1 }, ['*'])).toBe(true);
    expect(reaches({}, ['*'])).toBe(false);
    expect(reaches(undefined, ['comment'])).toBe(false);
  });

  it('leaves absent and null values alone', () => {
    const fn = jest.fn(upper);
    expect(mapPath({ comment: null }, ['comment'], fn, 'd')).toEqual({ comment: null });
    expect(mapPath({}, ['comment'], fn, 'd')).toEqual({});
    expect(mapPath(undefined, ['identifiers', '*', 'value'], fn, 'd')).toBeUndefined();
    expect(fn).not.toHaveBeenCalled();
  });
});
