import { CUSTOMER_360, openReadSide, type ReadSide } from '@cem/read-models';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeEcommerceExport } from '../../../../seeds/src/ecommerce';
import { importFixture } from '../../test/import-fixture';
import { MappingError } from '../mapping/parse-mapping';
import { loadMappingFile } from './import-state';
import { LOOKUPS_FILE } from './lookups';
import { runImport } from './run-import';

const mappings = resolve(__dirname, '..', '..', '..', '..', 'seeds', 'mappings');
const ordersMapping = () => loadMappingFile(join(mappings, 'ecommerce-orders.json'));
const reviewsMapping = () => loadMappingFile(join(mappings, 'ecommerce-reviews.json'));

/** A plain CSV reader for the test's recomputation (quoted cells, doubled quotes). */
function readCsv(path: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const text = readFileSync(path, 'utf8');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',' || c === '\n') {
      row.push(cell);
      cell = '';
      if (c === '\n') {
        rows.push(row);
        row = [];
      }
    } else cell += c;
  }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

/** integer cents of an amount with at most 2 decimals: a text is read digit by digit, a number rounded */
const cents = (x: string | number) => {
  if (typeof x === 'number') return Math.round(x * 100);
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(x);
  if (!m) throw new Error(`not an amount with at most 2 decimals: ${x}`);
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
};

describe('multi-file e-commerce export: the shipped mappings alone, checked against a recomputation over the raw CSVs', () => {
  let fx: ReturnType<typeof importFixture>;
  let readSide: ReadSide | undefined;
  beforeEach(() => (fx = importFixture()));
  afterEach(async () => {
    await readSide?.close();
    readSide = undefined;
    await fx.close();
  });

  it('one customer per person across customer_ids, purchase counts and values per person, reviews on the person; a re-run appends nothing', async () => {
    const paths = await writeEcommerceExport(join(fx.dir, 'export'), { orders: 600, seed: 'ecommerce-int' });

    // the plain recomputation
    const personOf = new Map(readCsv(paths.customers).map((c) => [c.customer_id, c.customer_unique_id]));
    const orders = readCsv(paths.orders);
    const payments = readCsv(paths.payments);
    const reviews = readCsv(paths.reviews);
    const paid = new Map<string, number>(); // order -> cents, all payments
    const paymentRows = new Map<string, number>(); // order -> how many payment rows
    for (const p of payments) {
      paid.set(p.order_id, (paid.get(p.order_id) ?? 0) + cents(p.payment_value));
      paymentRows.set(p.order_id, (paymentRows.get(p.order_id) ?? 0) + 1);
    }
    const expected = new Map<string, { purchases: number; value: number; splitOrders: number; reviews: number }>();
    const of = (u: string) => expected.get(u) ?? expected.set(u, { purchases: 0, value: 0, splitOrders: 0, reviews: 0 }).get(u)!;
    const purchased = orders.filter((o) => o.order_status !== 'canceled' && o.order_status !== 'unavailable');
    for (const o of purchased) {
      const e = of(personOf.get(o.customer_id)!);
      e.purchases++;
      e.value += paid.get(o.order_id)!;
      if (paymentRows.get(o.order_id)! > 1) e.splitOrders++;
    }
    const customerOfOrder = new Map(orders.map((o) => [o.order_id, o.customer_id]));
    for (const r of reviews) of(personOf.get(customerOfOrder.get(r.order_id)!)!).reviews++;
    const buyers = [...expected].filter(([, e]) => e.purchases > 0);
    // the sample exercises what matters: returning persons, split payments, cancellations, two reviews of an order
    expect(personOf.size).toBe(600);
    expect(new Set(personOf.values()).size).toBeLessThan(520);
    expect(payments.length).toBeGreaterThan(orders.length);
    expect(purchased.length).toBeLessThan(orders.length);
    expect(reviews.some((r) => /[",]/.test(r.review_comment_message))).toBe(true);

    const o = await runImport({
      file: paths.orders,
      mapping: ordersMapping(),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('o'),
    });
    expect(o).toMatchObject({ status: 'completed', rowsRead: 600, rowsRejected: 0, eventsImported: 600 });
    const r = await runImport({
      file: paths.reviews,
      mapping: reviewsMapping(),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('r'),
    });
    expect(r).toMatchObject({ status: 'completed', rowsRead: reviews.length, rowsRejected: 0, eventsImported: reviews.length });
    expect(await fx.countByType()).toEqual({
      'purchase.completed': purchased.length,
      'order.cancelled': orders.length - purchased.length,
      'survey.answered': reviews.length,
    });

    readSide = await openReadSide({ dataDir: join(fx.dir, 'data'), store: fx.platform.store, projector: 'embedded' });
    expect(await readSide.whenCaughtUp(await fx.platform.store.headPosition(), 30_000)).toBe(true);
    const c360 = readSide.queries[CUSTOMER_360];
    const byIdentifier = async (value: string) => {
      const found = await c360.byIdentifier({ kind: 'external', value });
      if (found.kind !== 'found') throw new Error(`${value}: ${found.kind}`);
      return found.view;
    };

    // distinct persons: as many live customers with purchases as persons with purchased orders
    const live = await readSide.readStore.db.selectFrom('c360_customers').select('customer_id').where('merged_into', 'is', null).execute();
    const withPurchases = [];
    for (const { customer_id } of live) {
      const v = await c360.byId(customer_id);
      if (v.kind === 'found' && v.view.purchases > 0) withPurchases.push(customer_id);
    }
    expect(withPurchases).toHaveLength(buyers.length);
    expect(live).toHaveLength(expected.size); // every person is one customer, buyers or not

    let split = 0;
    for (const [uniqueId, e] of expected) {
      const view = await byIdentifier(`brshop:${uniqueId}`);
      const brl = view.lifetimeValue.find((m) => m.currency === 'BRL');
      expect({ uniqueId, purchases: view.purchases, reviews: view.types['survey.answered'] ?? 0 }).toEqual({
        uniqueId,
        purchases: e.purchases,
        reviews: e.reviews,
      });
      // The order value is the exact sum of all its payment rows (duplicates "sum"), split payments included.
      expect({ uniqueId, cents: cents(brl?.purchased ?? 0) }).toEqual({ uniqueId, cents: e.value });
      if (e.splitOrders > 0) split++;
    }
    expect(split).toBeGreaterThan(0);
    // every customer_id of a person resolves to the person
    for (const [customerId, uniqueId] of personOf) {
      const person = await byIdentifier(`brshop:${uniqueId}`);
      expect([customerId, (await byIdentifier(`brshop-customer:${customerId}`)).customerId]).toEqual([customerId, person.customerId]);
    }

    const head = await fx.platform.store.headPosition();
    const o2 = await runImport({
      file: paths.orders,
      mapping: ordersMapping(),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('o'),
    });
    const r2 = await runImport({
      file: paths.reviews,
      mapping: reviewsMapping(),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('r'),
    });
    expect(o2).toMatchObject({ eventsImported: 0, eventsDuplicate: 600, rowsRejected: 0 });
    expect(r2).toMatchObject({ eventsImported: 0, eventsDuplicate: reviews.length, rowsRejected: 0 });
    expect(await fx.platform.store.headPosition()).toBe(head);
  }, 120_000);

  it('refuses the mapping before any row when a lookup file is missing or lacks its key column: nothing imported', async () => {
    const paths = await writeEcommerceExport(join(fx.dir, 'export'), { orders: 50, seed: 'ecommerce-bad' });
    const refused = async (file: string, mapping: ReturnType<typeof ordersMapping>, state: string) => {
      const err = await runImport({ file, mapping, ingestion: fx.platform.ingestion, stateDir: fx.stateDir(state) }).catch((e) => e);
      expect(err).toBeInstanceOf(MappingError);
      expect(await fx.countByType()).toEqual({});
      expect(existsSync(join(fx.stateDir(state), LOOKUPS_FILE))).toBe(false);
      return (err as MappingError).problems;
    };

    rmSync(paths.payments);
    expect(await refused(paths.orders, ordersMapping(), 'a')).toEqual([
      { path: 'lookups.payments.file', reason: expect.stringContaining('file "order_payments.csv" does not exist') },
    ]);

    // orders.csv exported without its order_id column: the reviews' lookup has no key
    const orders = readFileSync(paths.orders, 'utf8')
      .split('\n')
      .map((l) => l.split(',').slice(1).join(','))
      .join('\n');
    writeFileSync(paths.orders, orders);
    expect(await refused(paths.reviews, reviewsMapping(), 'b')).toEqual([
      { path: 'lookups.orders.key', reason: expect.stringContaining('column "order_id" is not in the lookup file') },
    ]);
  });
});
