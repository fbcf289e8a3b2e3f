import { compileMapping } from './compile-mapping';
import { MappingError, parseMapping } from './parse-mapping';
import { MAX_PATTERN_LENGTH } from './patterns';
import type { MappingSpec } from './mapping.types';

const base = (): Record<string, any> => ({
  name: 'shop',
  source: 'shop-export',
  input: { format: 'csv', separator: ',', header: true },
  events: [
    {
      name: 'purchase',
      type: 'purchase.completed',
      occurredAt: { column: 'date', type: 'date', format: 'YYYYMMDD' },
      channel: 'web',
      customer: [{ kind: 'email', value: { column: 'email' } }],
      data: { orderId: { column: 'order' }, amount: { column: 'amount', type: 'number' }, currency: 'EUR' },
    },
  ],
});

const problems = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof MappingError) return e.problems;
    throw e;
  }
  throw new Error('expected a MappingError');
};

describe('mapping validation', () => {
  it('accepts a well-formed mapping', () => {
    expect(parseMapping(base()).name).toBe('shop');
  });

  it('names the JSON path of every problem at once', () => {
    const m = base();
    m.input.format = 'xlsx';
    m.events[0].type = 'purchase.done';
    m.events[0].channel = 'fax';
    m.events[0].occurredAt.format = 'YYYYMMDDhh';
    m.events[0].occurredAt.timeZone = 'Moon/Base';
    m.events[0].data.amount.type = 'money';
    m.events[0].data.orderId = { column: 'order', template: '{x}' };
    m.events[0].customer[0].kind = 'fax';
    m.events[0].colour = 'red';
    expect(problems(() => parseMapping(m))).toEqual(
      expect.arrayContaining([
        { path: 'input.format', reason: 'must be "csv" or "ndjson"' },
        expect.objectContaining({ path: 'events[0].type', reason: expect.stringContaining('"purchase.done" is not a touch-point type') }),
        expect.objectContaining({ path: 'events[0].channel', reason: expect.stringContaining('"fax" is not a channel') }),
        expect.objectContaining({ path: 'events[0].occurredAt.format', reason: expect.stringContaining('"h" is not a token') }),
        expect.objectContaining({ path: 'events[0].occurredAt.timeZone', reason: expect.stringContaining('not a time zone') }),
        expect.objectContaining({ path: 'events[0].data.amount.type' }),
        expect.objectContaining({ path: 'events[0].data.orderId', reason: expect.stringContaining('exactly one of') }),
        expect.objectContaining({ path: 'events[0].customer[0].kind', reason: expect.stringContaining('"fax" is not an identifier kind') }),
        expect.objectContaining({ path: 'events[0].colour', reason: expect.stringContaining('is not a known key') }),
      ]),
    );
  });

  it('requires the essentials', () => {
    const paths = problems(() => parseMapping({ input: { format: 'csv', header: false }, events: [{}] })).map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'source',
        'input.columns',
        'events[0].type',
        'events[0].occurredAt',
        'events[0].channel',
        'events[0].customer',
        'events[0].data',
      ]),
    );
    expect(problems(() => parseMapping('nope'))).toEqual([{ path: '', reason: 'a mapping must be a JSON object' }]);
  });

  it('refuses duplicate event names (they are part of the event ids)', () => {
    const m = base();
    m.events.push({ ...m.events[0] });
    expect(problems(() => parseMapping(m))).toEqual([expect.objectContaining({ path: 'events[1].name' })]);
  });

  it('refuses column names that are not in the file, naming the mapping path and the real columns', () => {
    const m = base();
    m.events[0].data.amount.column = 'dollar_value';
    m.filter = [{ column: 'state', equals: 'paid' }];
    const spec = parseMapping(m) as MappingSpec;
    expect(problems(() => compileMapping(spec, ['date', 'email', 'order', 'amount']))).toEqual([
      { path: 'filter[0].column', reason: 'column "state" is not in the file; columns are: date, email, order, amount' },
      { path: 'events[0].data.amount.column', reason: 'column "dollar_value" is not in the file; columns are: date, email, order, amount' },
    ]);
  });

  describe('user-supplied patterns ("matches") run on a linear-time engine (RE2)', () => {
    const withMatches = (pattern: unknown, where: 'filter' | 'when' = 'filter') => {
      const m = base();
      if (where === 'filter') m.filter = [{ column: 'email', matches: pattern }];
      else m.events[0].when = [{ column: 'email', matches: pattern }];
      return m;
    };

    it('refuses backreferences and lookaround, naming the mapping path and why', () => {
      expect(problems(() => parseMapping(withMatches('^(a)\\1$')))).toEqual([
        { path: 'filter[0].matches', reason: expect.stringMatching(/backreference.*not supported.*linear-time.*RE2/) },
      ]);
      expect(problems(() => parseMapping(withMatches('^(?=a)b', 'when')))).toEqual([
        { path: 'events[0].when[0].matches', reason: expect.stringMatching(/lookahead or lookbehind.*not supported.*linear-time.*RE2/) },
      ]);
      expect(problems(() => parseMapping(withMatches('(?<!x)y')))).toEqual([
        { path: 'filter[0].matches', reason: expect.stringMatching(/lookahead or lookbehind.*not supported/) },
      ]);
    });

    it("refuses a pattern longer than MAX_PATTERN_LENGTH characters, and a bad pattern with the engine's reason", () => {
      expect(MAX_PATTERN_LENGTH).toBe(256);
      expect(parseMapping(withMatches('a'.repeat(MAX_PATTERN_LENGTH)))).toBeDefined();
      expect(problems(() => parseMapping(withMatches('a'.repeat(MAX_PATTERN_LENGTH + 1))))).toEqual([
        { path: 'filter[0].matches', reason: `is 257 characters long; patterns may have at most ${MAX_PATTERN_LENGTH}` },
      ]);
      expect(problems(() => parseMapping(withMatches('(ab')))).toEqual([
        {
          path: 'filter[0].matches',
          reason: expect.stringMatching(/^is not a valid regular expression \(RE2 syntax\): .*missing closing \)/),
        },
      ]);
      expect(problems(() => parseMapping(withMatches('(?:a{1000}){1000}')))).toEqual([
        { path: 'filter[0].matches', reason: expect.stringContaining('repeat count') },
      ]);
    });

    it('accepts the usual RE2 syntax (classes, anchors, alternation, counted repeats, (?i), named groups)', () => {
      for (const p of ['^[A-Z]{2}-\\d+$', '(?i)^(gold|silver)$', '\\bvip\\b', '^(?P<x>a+)+$', '^(?<y>b)$'])
        expect(parseMapping(withMatches(p))).toBeDefined();
    });
  });
});
