import { compileMapping, encodeExternalId, type RowOutcome } from './compile-mapping';
import { MappingError, parseMapping } from './parse-mapping';
import type { MappingSpec } from './mapping.types';

const problems = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof MappingError) return e.problems;
    throw e;
  }
  throw new Error('expected a MappingError');
};

const columns = ['case', 'step', 'at', 'customer', 'first', 'last', 'ref', 'aliases', 'email'];
const ticket = (data: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, any> => ({
  name: 'tickets',
  source: 'helpdesk',
  input: { format: 'csv' },
  key: ['case', 'step', 'at'],
  events: [
    {
      name: 'step',
      type: 'case.opened',
      occurredAt: { column: 'at' },
      channel: 'email',
      customer: [{ kind: 'external', value: { template: 'helpdesk:{customer}', transform: ['externalId'] } }],
      data: { caseId: { column: 'case' }, ...data },
      ...extra,
    },
  ],
});
const compile = (m: Record<string, any>) => compileMapping(parseMapping(m) as MappingSpec, columns);
const cells = (o: Partial<Record<(typeof columns)[number], string>>) => columns.map((c) => o[c] ?? '');
const run = (m: ReturnType<typeof compile>, line: number, o: Partial<Record<string, string>>) =>
  m.map({ line, text: JSON.stringify(o), values: cells(o) });
const base = { case: 'C1', step: 'inserted', at: '2024-01-01T10:00:00Z', customer: 'Value 22', first: 'Ana', last: 'Lee' };
const first = (o: RowOutcome) => (o.kind === 'events' ? o.events[0].envelope : undefined);

describe('string transforms', () => {
  it('trims, changes case, replaces literally, extracts a group, concatenates and defaults', () => {
    const m = compile(
      ticket({
        title: { column: 'ref', transform: ['trim', 'upper', { replace: '.', with: '-' }] },
        number: { column: 'ref', transform: [{ extract: '(\\d+)$' }], type: 'integer' },
        named: { column: 'ref', transform: ['trim', { extract: '^(?P<head>[a-z]+)', group: 'head' }, 'lower'] },
        whole: { column: 'ref', transform: [{ extract: '[0-9]+', group: 0 }] },
        name: { concat: ['first', 'last'], separator: ' ' },
        tier: { column: 'step', transform: [{ extract: '^gold' }], default: 'standard' },
      }),
    );
    expect(first(run(m, 2, { ...base, ref: '  ab.c.12' }))!.data).toEqual({
      caseId: 'C1',
      title: 'AB-C-12',
      number: 12,
      named: 'ab',
      whole: '12',
      name: 'Ana Lee',
      tier: 'standard',
    });
    // an empty cell is left out of a concatenation
    expect((first(run(m, 3, { ...base, last: '', ref: 'x1' }))!.data as Record<string, unknown>).name).toBe('Ana');
  });

  it('no match: a missing value (default, optional, or rejected), or a reject naming the pattern when required', () => {
    const m = compile(
      ticket({
        opt: { column: 'ref', transform: [{ extract: '^(\\d+)$' }], optional: true },
        req: { column: 'ref', transform: [{ extract: '^R(\\d+)$', required: true }] },
      }),
    );
    expect(first(run(m, 2, { ...base, ref: 'R7' }))!.data).toEqual({ caseId: 'C1', req: '7' });
    expect(run(m, 3, { ...base, ref: 'Q7' })).toEqual({
      kind: 'rejected',
      errors: [
        { event: 'step', field: 'data.req', reason: 'column "ref": "Q7" does not match the pattern of transform[0] ("^R(\\\\d+)$")' },
      ],
    });
    const plain = compile(ticket({ n: { column: 'ref', transform: [{ extract: '^(\\d+)$' }] } }));
    expect(run(plain, 4, { ...base, ref: 'abc' })).toEqual({
      kind: 'rejected',
      errors: [{ event: 'step', field: 'data.n', reason: 'column "ref" has no value after its transforms' }],
    });
  });

  it('refuses bad transforms at parse time, naming the mapping path', () => {
    expect(
      problems(() =>
        parseMapping(
          ticket({
            a: { column: 'ref', transform: ['reverse'] },
            b: { column: 'ref', transform: [{ extract: '(ab' }] },
            c: { column: 'ref', transform: [{ extract: '^(a)\\1' }] },
            d: { column: 'ref', transform: [{ extract: '(a)', group: 2 }] },
            e: { column: 'ref', transform: [{ replace: '' }] },
            f: { concat: [] },
            g: { column: 'ref', transform: [{ extract: 'a', split: ',' }] },
          }),
        ),
      ),
    ).toEqual([
      { path: 'events[0].data.a.transform[0]', reason: expect.stringContaining('"reverse" is not a transform') },
      { path: 'events[0].data.b.transform[0].extract', reason: expect.stringMatching(/^is not a valid regular expression \(RE2 syntax\)/) },
      { path: 'events[0].data.c.transform[0].extract', reason: expect.stringContaining('backreference') },
      { path: 'events[0].data.d.transform[0].group', reason: expect.stringContaining('0 (the whole match) to 1') },
      { path: 'events[0].data.e.transform[0].replace', reason: 'must be a non-empty string' },
      { path: 'events[0].data.f.concat', reason: 'must be a non-empty array of column names' },
      { path: 'events[0].data.g.transform[0]', reason: expect.stringContaining('exactly one of') },
    ]);
  });

  it('refuses a transform or concatenation of a column the file does not have, before any row', () => {
    const m = ticket({ a: { column: 'nope', transform: ['trim'] }, b: { concat: ['first', 'middle'] } });
    expect(problems(() => compile(m)).map((p) => p.path)).toEqual(['events[0].data.a.column', 'events[0].data.b.concat[1]']);
  });
});

describe('external ids with blanks or odd characters', () => {
  it('percent-encodes what an external id does not allow, deterministically', () => {
    expect(encodeExternalId('Value 22')).toBe('Value%2022');
    expect(encodeExternalId('ACME / 0042')).toBe('ACME%20/%200042');
    expect(encodeExternalId(' 100% é ')).toBe('100%25%20%C3%A9');
    expect(encodeExternalId('plain-id_1:x')).toBe('plain-id_1:x');
    const m = compile(ticket({}));
    const a = first(run(m, 2, base))!;
    expect(a.customer).toEqual({ identifiers: [{ kind: 'external', value: 'helpdesk:Value%2022' }] });
    expect(first(run(m, 2, base))!.eventId).toBe(a.eventId);
  });
});

describe('first-of-key rule', () => {
  const m = () => compile(ticket({}, { firstOf: ['case'] }));

  it('emits the event only for the first row of each key, in file order, with an id from the key', () => {
    const c = m();
    const one = run(c, 2, { ...base, step: 'assigned' });
    expect(one.kind).toBe('events');
    expect(run(c, 3, { ...base, step: 'inserted' })).toEqual({ kind: 'filtered' });
    expect(run(c, 4, { ...base, case: 'C2' }).kind).toBe('events');
    // the id derives from the key, not the row: another file order gives the same id
    expect(first(run(m(), 9, { ...base, step: 'closed' }))!.eventId).toBe(first(one)!.eventId);
  });

  it('rejects a row whose key column is empty, naming the field and why', () => {
    expect(run(m(), 5, { ...base, case: '' })).toEqual({
      kind: 'rejected',
      errors: expect.arrayContaining([
        { event: 'step', field: 'firstOf', reason: 'column "case" is empty: the first-of-key rule needs a key' },
      ]),
    });
  });

  it('a rejected first row does not use up its key', () => {
    const c = m();
    expect(run(c, 2, { ...base, at: 'yesterday' }).kind).toBe('rejected');
    expect(run(c, 3, base).kind).toBe('events');
  });

  it('refuses a key column the file does not have, and a malformed rule', () => {
    expect(problems(() => compile(ticket({}, { firstOf: ['ticket'] })))).toEqual([
      { path: 'events[0].firstOf[0]', reason: expect.stringContaining('column "ticket" is not in the file') },
    ]);
    expect(problems(() => parseMapping(ticket({}, { firstOf: 'case' })))).toEqual([
      { path: 'events[0].firstOf', reason: 'must be a non-empty array of column names, e.g. ["case_id"]' },
    ]);
  });
});

describe('identifier lists', () => {
  const linked = (identifiers: unknown[]) => {
    const m = ticket({});
    m.events[0].type = 'identifiers.linked';
    m.events[0].data = { identifiers: { identifiers } };
    return compile(m);
  };

  it('maps several identifier columns and a column split by a separator, leaving out empties and repeats', () => {
    const m = linked([
      { kind: 'email', value: { column: 'email' }, optional: true },
      { kind: 'external', value: { column: 'aliases', transform: [{ split: '|' }, { prefix: 'shop:' }, 'externalId'] } },
    ]);
    expect(first(run(m, 2, { ...base, email: 'a@x.io', aliases: 'A 1| B2 ||B2' }))!.data).toEqual({
      identifiers: [
        { kind: 'email', value: 'a@x.io' },
        { kind: 'external', value: 'shop:A%201' },
        { kind: 'external', value: 'shop:B2' },
      ],
    });
    expect(first(run(m, 3, { ...base, aliases: 'z' }))!.data).toEqual({ identifiers: [{ kind: 'external', value: 'shop:z' }] });
    expect(run(m, 4, { ...base, aliases: ' | ' })).toEqual({
      kind: 'rejected',
      errors: [{ event: 'step', field: 'data.identifiers.1.value', reason: 'column "aliases" has no value after its transforms' }],
    });
  });

  it('refuses a malformed list, naming the path', () => {
    expect(problems(() => parseMapping(ticket({ ids: { identifiers: [{ kind: 'fax', value: { column: 'email' } }] } })))).toEqual([
      { path: 'events[0].data.ids.identifiers[0].kind', reason: expect.stringContaining('"fax" is not an identifier kind') },
    ]);
  });
});

describe('lookups (shape)', () => {
  it('names every malformed lookup and lookup value by its path', () => {
    const m = ticket({
      a: { lookup: { from: 'payments', key: 'case' } },
      b: { lookup: { from: 'payments', key: 'case', column: 'x', extra: 1 } },
    });
    m.lookups = { payments: { file: 'p.csv', key: '', duplicates: 'any' }, other: 'x' };
    expect(problems(() => parseMapping(m))).toEqual([
      { path: 'lookups.payments.key', reason: 'must be a non-empty string' },
      { path: 'lookups.payments.duplicates', reason: 'must be "error", "first", "last" or "sum"' },
      { path: 'lookups.other', reason: expect.stringContaining('must be {"file"') },
      { path: 'events[0].data.a.lookup', reason: expect.stringContaining('must be {"from"') },
      { path: 'events[0].data.b.lookup.extra', reason: expect.stringContaining('is not a known key') },
    ]);
  });

  it('"sum" is refused where it does not apply: a text read of a summed lookup, transforms or a table on it, "duplicates" on a value', () => {
    const m = ticket({
      total: { lookup: { from: 'payments', key: 'case', column: 'value' }, type: 'number' },
      cents: { lookup: { from: 'payments', key: 'case', column: 'value' }, type: 'integer' },
      kind: { lookup: { from: 'payments', key: 'case', column: 'payment_type' } },
      shown: { lookup: { from: 'payments', key: 'case', column: 'value' }, type: 'number', transform: ['trim'], map: { '0': 1 } },
      own: { column: 'case', duplicates: 'sum' },
      firstOnly: { lookup: { from: 'other', key: 'case', column: 'x' } },
    });
    m.lookups = {
      payments: { file: 'p.csv', key: 'order_id', duplicates: 'sum' },
      other: { file: 'o.csv', key: 'k', duplicates: 'first' },
    };
    expect(problems(() => parseMapping(m))).toEqual([
      {
        path: 'events[0].data.kind.type',
        reason:
          'must be "number" or "integer": lookup "payments" has duplicates "sum", which adds the values of every row of the key (use "first" or "last" for text)',
      },
      { path: 'events[0].data.shown.transform', reason: expect.stringContaining('does not apply to a sum') },
      { path: 'events[0].data.shown.map', reason: expect.stringContaining('does not apply to a sum') },
      { path: 'events[0].data.own.duplicates', reason: expect.stringContaining('belongs to a lookup, not to a value') },
    ]);
  });

  it('a lookup keyed by a column the main file does not have refuses the mapping', () => {
    const m = ticket({ a: { lookup: { from: 'payments', key: 'order', column: 'x' } } });
    m.lookups = { payments: { file: 'p.csv', key: 'order' } };
    const index = { get: () => undefined, duplicates: () => 'error' as const, fileOf: () => 'p.csv', close: () => undefined };
    expect(() => compileMapping(parseMapping(m) as MappingSpec, columns, index)).toThrow(
      'events[0].data.a.lookup.key: column "order" is not in the file',
    );
  });
});
