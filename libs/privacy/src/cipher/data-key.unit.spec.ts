import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { DataKey, isSealed, SealedValueError } from './data-key';
import { mapPath, REMOVED } from './personal-paths';

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

  it('leaves absent and null values alone', () => {
    const fn = jest.fn(upper);
    expect(mapPath({ comment: null }, ['comment'], fn, 'd')).toEqual({ comment: null });
    expect(mapPath({}, ['comment'], fn, 'd')).toEqual({});
    expect(mapPath(undefined, ['identifiers', '*', 'value'], fn, 'd')).toBeUndefined();
    expect(fn).not.toHaveBeenCalled();
  });
});
