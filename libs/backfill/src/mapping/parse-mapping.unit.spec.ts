import { compileMapping } from './compile-mapping';
import { MappingError, parseMapping } from './parse-mapping';
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
      expect.arrayContaining(['name', 'source', 'input.columns', 'events[0].type', 'events[0].occurredAt', 'events[0].channel', 'events[0].customer', 'events[0].data']),
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
});
