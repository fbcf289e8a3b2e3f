import { mapPath, REMOVED, updatePath, type LeafFn, type PathPattern } from './personal-paths';

describe('mapPath (where the personal values of an event are sealed, opened or removed)', () => {
  const upper = (value: unknown, path: string) => `${String(value).toUpperCase()}@${path}`;

  it('maps every value a pattern reaches, with its dotted path, and copies only what it changes', () => {
    const meta = { source: 'crm', identifiers: [{ kind: 'email', value: 'a@x.nl' }, { kind: 'phone', value: null }, 'odd'] };
    const out = mapPath(meta, ['identifiers', '*', 'value'], upper, 'metadata') as typeof meta;
    expect(out).toEqual({
      source: 'crm',
      identifiers: [{ kind: 'email', value: 'A@X.NL@metadata.identifiers.0.value' }, { kind: 'phone', value: null }, 'odd'],
    });
    expect(meta.identifiers[0]).toEqual({ kind: 'email', value: 'a@x.nl' }); // the input is unchanged
    const data = { nps: 3 };
    expect(mapPath(data, ['comment'], upper, 'data')).toBe(data); // nothing reached: the same object
    expect(mapPath({ a: 'x', b: { c: 'y' } }, ['*'], (v, p) => (typeof v === 'string' ? `${v}@${p}` : v), 'data')).toEqual({
      a: 'x@data.a',
      b: { c: 'y' },
    });
  });

  it('a removed value drops its key at the top and its whole element inside an array', () => {
    const remove = () => REMOVED;
    expect(mapPath({ notes: 'n', nps: 1 }, ['notes'], remove, 'data')).toEqual({ nps: 1 });
    expect(mapPath({ identifiers: [{ kind: 'email', value: 'a' }, { kind: 'crm' }] }, ['identifiers', '*', 'value'], remove, 'm')).toEqual({
      identifiers: [{ kind: 'crm' }],
    });
    expect(
      mapPath({ evidence: { identifiers: ['email:a', 'phone:b'], rule: 'r' } }, ['evidence', 'identifiers', '*'], remove, 'data'),
    ).toEqual({
      evidence: { identifiers: [], rule: 'r' },
    });
    expect(mapPath({ profile: { a: 1, b: 2 } }, ['profile', '*'], (v) => (v === 1 ? REMOVED : v), 'data')).toEqual({ profile: { b: 2 } });
  });

  it('updatePath gives what mapPath gives (same values, paths and removals), changing the input in place', () => {
    const remove: LeafFn = () => REMOVED;
    const tag: LeafFn = (v, p) => `${String(v)}@${p}`;
    const removeOne: LeafFn = (v) => (v === 'b' || v === 1 ? REMOVED : v);
    const cases: [() => unknown, PathPattern, LeafFn][] = [
      [
        () => ({ source: 'crm', identifiers: [{ kind: 'email', value: 'a' }, { kind: 'phone', value: null }, 'odd'] }),
        ['identifiers', '*', 'value'],
        tag,
      ],
      [
        () => ({
          identifiers: [
            { kind: 'email', value: 'a' },
            { kind: 'crm', value: 'b' },
            { kind: 'x', value: 'c' },
          ],
        }),
        ['identifiers', '*', 'value'],
        removeOne,
      ],
      [() => ({ identifiers: [{ kind: 'email', value: 'a' }, { kind: 'crm' }] }), ['identifiers', '*', 'value'], remove],
      [() => ({ evidence: { identifiers: ['a', 'b', 'c'], rule: 'r' } }), ['evidence', 'identifiers', '*'], removeOne],
      [() => ({ profile: { a: 1, b: 2 }, n: 3 }), ['profile', '*'], removeOne],
      [() => ({ notes: 'n', nps: 1 }), ['notes'], remove],
      [() => ({ nps: 1 }), ['comment'], tag],
      [() => ({ a: 'x', b: { c: 'y' } }), ['*'], tag],
      [() => undefined, ['identifiers', '*', 'value'], tag],
    ];
    for (const [make, pattern, fn] of cases) {
      const input = make();
      const updated = updatePath(input, pattern, fn, 'data');
      expect(updated).toEqual(mapPath(make(), pattern, fn, 'data'));
      if (input !== undefined) expect(updated).toBe(input);
    }
  });
});
