import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFixture } from '../../test/import-fixture';
import { MappingError, parseMapping } from '../mapping/parse-mapping';
import { LOOKUPS_FILE } from './lookups';
import { runImport } from './run-import';

const ORDERS =
  'order_id,customer_id,at\no1,c1,2024-01-01T10:00:00Z\no2,c2,2024-01-02T10:00:00Z\no3,c1,2024-01-03T10:00:00Z\no4,c3,2024-01-04T10:00:00Z\n';
const PAYMENTS = 'order_id,payment_type,value\no1,card,10.5\no2,voucher,3\no2,card,7\no3,boleto,20\n';
const CUSTOMERS = 'customer_id,customer_unique_id\nc1,U 1\nc2,U2\nc3,U3\n';

const rawMapping = (lookups: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
  name: 'shop',
  source: 'shop',
  input: { format: 'csv' },
  key: ['order_id'],
  lookups: {
    payments: { file: 'payments.csv', key: 'order_id', duplicates: 'first' },
    customers: { file: 'customers.csv', key: 'customer_id' },
    ...lookups,
  },
  events: [
    {
      name: 'order',
      type: 'purchase.completed',
      occurredAt: { column: 'at' },
      channel: 'web',
      customer: [
        {
          kind: 'external',
          value: {
            lookup: { from: 'customers', key: 'customer_id', column: 'customer_unique_id' },
            transform: [{ prefix: 'shop:' }, 'externalId'],
          },
        },
      ],
      data: {
        orderId: { column: 'order_id' },
        amount: { lookup: { from: 'payments', key: 'order_id', column: 'value' }, type: 'number' },
        currency: 'BRL',
        productCategory: { lookup: { from: 'payments', key: 'order_id', column: 'payment_type' }, optional: true },
        ...data,
      },
    },
  ],
});
const mapping = (lookups: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => parseMapping(rawMapping(lookups, data));

describe('lookups: a column of another file, joined by key through an on-disk index', () => {
  let fx: ReturnType<typeof importFixture>;
  beforeEach(() => {
    fx = importFixture();
    fx.file('payments.csv', PAYMENTS);
    fx.file('customers.csv', CUSTOMERS);
  });
  afterEach(() => fx.close());

  it('joins by key; a key without a row is a missing value; the index is removed when the import completes', async () => {
    const file = fx.file('orders.csv', ORDERS);
    const r = await runImport({ file, mapping: mapping(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(r).toMatchObject({ status: 'completed', rowsRead: 4, eventsImported: 3, rowsRejected: 1 });
    expect(readFileSync(r.rejectFile, 'utf8')).toBe(
      'line,event,field,reason\n5,order,data.amount,"lookup ""payments"" column ""value"" (by column ""order_id"") has no row for key ""o4"" in ""payments.csv"""\n',
    );
    const events = (await fx.platform.store.readAll({})).filter((e) => e.type === 'purchase.completed');
    expect(
      events.map((e) => e.data).sort((a, b) => ((a as { orderId: string }).orderId < (b as { orderId: string }).orderId ? -1 : 1)),
    ).toEqual([
      { orderId: 'o1', amount: 10.5, currency: 'BRL', productCategory: 'card' },
      { orderId: 'o2', amount: 3, currency: 'BRL', productCategory: 'voucher' }, // duplicates: first
      { orderId: 'o3', amount: 20, currency: 'BRL', productCategory: 'boleto' },
    ]);
    expect(existsSync(join(fx.stateDir(), LOOKUPS_FILE))).toBe(false);
    const again = await runImport({ file, mapping: mapping(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(again).toMatchObject({ eventsImported: 0, eventsDuplicate: 3 });
  });

  it('"last" takes the last row of a key; without a choice a key matching several rows rejects the row', async () => {
    const file = fx.file('orders.csv', ORDERS);
    const last = await runImport({
      file,
      mapping: mapping({ payments: { file: 'payments.csv', key: 'order_id', duplicates: 'last' } }),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('last'),
    });
    expect(last.eventsImported).toBe(3);
    const o2 = (await fx.platform.store.readAll({})).find((e) => (e.data as { orderId?: string }).orderId === 'o2')!;
    expect(o2.data).toMatchObject({ amount: 7, productCategory: 'card' });

    const strict = await runImport({
      file,
      mapping: mapping({ payments: { file: 'payments.csv', key: 'order_id' } }),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('strict'),
    });
    expect(readFileSync(strict.rejectFile, 'utf8')).toContain(
      '3,order,data.amount,"lookup ""payments"" column ""value"" (by column ""order_id""): key ""o2"" matches 2 rows of ""payments.csv""; set lookups.payments.duplicates to ""first"", ""last"" or ""sum"" to choose"',
    );
  });

  it('"sum" adds the column of every row of the key exactly (0.1 + 0.2 is 0.3); a value that is not a number rejects the row with the lookup line', async () => {
    fx.file('payments.csv', 'order_id,payment_type,value\no1,card,0.1\no1,voucher,0.2\no2,card,10.25\no3,card,1.10\no3,card,n/a\n');
    const many = Array.from({ length: 300 }, (_, i) => `o4,card,${Math.floor(i / 3)}.${String((i * 37) % 100).padStart(2, '0')}`);
    const cents = Array.from({ length: 300 }, (_, i) => Math.floor(i / 3) * 100 + ((i * 37) % 100)).reduce((a, b) => a + b, 0);
    fx.file('payments.csv', `${readFileSync(join(fx.dir, 'payments.csv'), 'utf8')}${many.join('\n')}\n`);
    const file = fx.file('orders.csv', ORDERS);
    const m = rawMapping({ payments: { file: 'payments.csv', key: 'order_id', duplicates: 'sum' } });
    delete (m.events[0].data as Record<string, unknown>).productCategory; // text of a summed lookup: refused by parseMapping
    const r = await runImport({ file, mapping: parseMapping(m), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(r).toMatchObject({ status: 'completed', rowsRead: 4, eventsImported: 3, rowsRejected: 1 });
    expect(readFileSync(r.rejectFile, 'utf8')).toBe(
      'line,event,field,reason\n4,order,data.amount,"lookup ""payments"" column ""value"" (by column ""order_id""): key ""o3"": line 6 of ""payments.csv"" has ""n/a"", which is not a number; ""sum"" adds numbers only"\n',
    );
    const amounts = Object.fromEntries(
      (await fx.platform.store.readAll({}))
        .filter((e) => e.type === 'purchase.completed')
        .map((e) => [(e.data as { orderId: string }).orderId, (e.data as { amount: number }).amount]),
    );
    expect(amounts).toEqual({ o1: 0.3, o2: 10.25, o4: cents / 100 });
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(existsSync(join(fx.stateDir(), LOOKUPS_FILE))).toBe(false);
  });

  it('refuses the mapping before any row when a lookup file is missing or lacks the key or a used column', async () => {
    const file = fx.file('orders.csv', ORDERS);
    const refused = async (m: ReturnType<typeof mapping>) => {
      const err = await runImport({ file, mapping: m, ingestion: fx.platform.ingestion, stateDir: fx.stateDir() }).catch((e) => e);
      expect(err).toBeInstanceOf(MappingError);
      expect(await fx.countByType()).toEqual({});
      expect(existsSync(join(fx.stateDir(), LOOKUPS_FILE))).toBe(false);
      return (err as MappingError).problems;
    };
    expect(await refused(mapping({ payments: { file: 'nope.csv', key: 'order_id' } }))).toEqual([
      { path: 'lookups.payments.file', reason: expect.stringContaining('file "nope.csv" does not exist') },
    ]);
    expect(await refused(mapping({ customers: { file: 'customers.csv', key: 'cust' } }))).toEqual([
      {
        path: 'lookups.customers.key',
        reason: 'column "cust" is not in the lookup file (header line 1); columns are: customer_id, customer_unique_id',
      },
    ]);
    expect(await refused(mapping({}, { note: { lookup: { from: 'payments', key: 'order_id', column: 'memo' } } }))).toEqual([
      {
        path: 'events[0].data.note.lookup.column',
        reason: 'column "memo" is not in lookup "payments"; columns are: order_id, payment_type, value',
      },
    ]);
  });

  it('refuses lookups where the mapping comes from a client (allowLookups: false), before reading any file', async () => {
    const file = fx.file('orders.csv', ORDERS);
    const err = await runImport({
      file,
      mapping: mapping(),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir(),
      allowLookups: false,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(MappingError);
    expect(err.problems).toEqual([{ path: 'lookups', reason: expect.stringContaining('not available') }]);
    expect(existsSync(join(fx.stateDir(), LOOKUPS_FILE))).toBe(false);
    expect(existsSync(join(fx.stateDir(), 'rejects.csv'))).toBe(false);
  });

  it('refuses a lookup value naming an unknown lookup, at parse time', () => {
    expect(() => mapping({}, { x: { lookup: { from: 'reviews', key: 'order_id', column: 'score' } } })).toThrow(
      'events[0].data.x.lookup.from: "reviews" is not a lookup; lookups: payments, customers',
    );
  });
});
