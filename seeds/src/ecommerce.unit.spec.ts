import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECOMMERCE_FILES, ecommerceOrder, writeEcommerceExport } from './ecommerce';
import { hashString } from './prng';

describe('multi-file e-commerce export generator', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cem-ecommerce-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const hashes = (d: string) =>
    Object.fromEntries(
      Object.values(ECOMMERCE_FILES).map((f) => [
        f,
        createHash('sha256')
          .update(readFileSync(join(d, f)))
          .digest('hex'),
      ]),
    );

  it('same seed -> byte-identical files; another seed -> other files', async () => {
    await writeEcommerceExport(join(dir, 'a'), { orders: 2000, seed: 's1' });
    await writeEcommerceExport(join(dir, 'b'), { orders: 2000, seed: 's1' });
    await writeEcommerceExport(join(dir, 'c'), { orders: 2000, seed: 's2' });
    expect(hashes(join(dir, 'a'))).toEqual(hashes(join(dir, 'b')));
    expect(hashes(join(dir, 'a'))[ECOMMERCE_FILES.orders]).not.toBe(hashes(join(dir, 'c'))[ECOMMERCE_FILES.orders]);
  });

  it('an order is the same whatever the number of orders; the layout links by ids as the original does', async () => {
    await writeEcommerceExport(dir, { orders: 3000, seed: 'layout' });
    const lines = (f: string) => readFileSync(join(dir, f), 'utf8').trimEnd().split('\n');
    const orders = lines(ECOMMERCE_FILES.orders);
    expect(orders[1]).toBe(ecommerceOrder(hashString('layout'), 0).order);
    const customers = lines(ECOMMERCE_FILES.customers)
      .slice(1)
      .map((l) => l.split(','));
    const payments = lines(ECOMMERCE_FILES.payments)
      .slice(1)
      .map((l) => l.split(','));
    const reviews = lines(ECOMMERCE_FILES.reviews).slice(1);
    expect(orders).toHaveLength(3001);
    expect(customers).toHaveLength(3000);
    // one customer_id per order, several per returning person
    expect(new Set(customers.map((c) => c[0])).size).toBe(3000);
    const persons = new Set(customers.map((c) => c[1])).size;
    expect(persons).toBeGreaterThan(2000);
    expect(persons).toBeLessThan(2600);
    // every order paid, some in several parts; scores 1-5
    const orderIds = new Set(orders.slice(1).map((l) => l.split(',')[0]));
    expect(new Set(payments.map((p) => p[0]))).toEqual(orderIds);
    expect(payments.length).toBeGreaterThan(3030);
    expect(payments.every((p) => /^\d+\.\d\d$/.test(p[4]) && Number(p[4]) > 0)).toBe(true);
    expect(reviews.length).toBeGreaterThan(2900);
    expect(new Set(reviews.map((r) => r.split(',')[2]))).toEqual(new Set(['1', '2', '3', '4', '5']));
    const statuses = new Set(orders.slice(1).map((l) => l.split(',')[2]));
    expect([...statuses]).toEqual(expect.arrayContaining(['delivered', 'shipped', 'canceled', 'unavailable']));
  });

  it('order, customer, person and review ids never repeat (the importer rejects an order whose customer_id is ambiguous)', () => {
    // 300,000 orders: with ids drawn from each order's 32-bit random stream alone, a few repeated here
    const seed = hashString('bench');
    const seen = { order: new Set<string>(), customer: new Set<string>(), review: new Set<string>() };
    const persons = new Map<string, string>(); // unique id -> the zip of the first order naming it
    for (let i = 0; i < 300_000; i++) {
      const rows = ecommerceOrder(seed, i);
      const [orderId, customerId] = rows.order.split(',');
      const [, uniqueId] = rows.customer.split(',');
      seen.order.add(orderId);
      seen.customer.add(customerId);
      for (const r of rows.reviews) seen.review.add(r.split(',')[0]);
      if (!persons.has(uniqueId)) persons.set(uniqueId, rows.customer);
    }
    expect(seen.order.size).toBe(300_000);
    expect(seen.customer.size).toBe(300_000);
    expect(seen.review.size).toBeGreaterThan(290_000);
    // a returning person keeps its unique id; new persons are about 75% of orders
    expect(persons.size).toBeGreaterThan(200_000);
  });
});
