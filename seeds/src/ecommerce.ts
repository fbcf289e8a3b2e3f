/**
 * A deterministic multi-file e-commerce export in the layout of the well-known public Brazilian
 * e-commerce data set (orders, customers, payments, reviews linked by ids; nothing is downloaded,
 * every value is generated):
 *
 * - `customers.csv`: customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state.
 *   As in the original, a customer_id belongs to exactly one order; customer_unique_id is the person,
 *   so a returning person has several customer_ids.
 * - `orders.csv`: order_id, customer_id, order_status, order_purchase_timestamp, order_approved_at,
 *   order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date.
 * - `order_payments.csv`: order_id, payment_sequential, payment_type, payment_installments, payment_value
 *   (about 3% of orders are paid in several parts, mostly a card plus vouchers).
 * - `order_reviews.csv`: review_id, order_id, review_score (1-5), review_comment_title,
 *   review_comment_message (quoted when it holds a comma or a quote), review_creation_date,
 *   review_answer_timestamp (about 1% of orders have no review, 0.5% two).
 *
 * Same options give byte-identical files: every order and every person draw from their own PRNG
 * stream, and nothing depends on the clock. Files are streamed, so millions of orders cost no memory.
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Rng, hashString, mix32 } from './prng';

export interface EcommerceOptions {
  /** rows of orders.csv */
  orders: number;
  /** default 'cem' */
  seed?: string;
  /** share of orders placed by a person who ordered before (default 0.25) */
  repeatRate?: number;
}

export const ECOMMERCE_FILES = {
  customers: 'customers.csv',
  orders: 'orders.csv',
  payments: 'order_payments.csv',
  reviews: 'order_reviews.csv',
} as const;

const START = Date.parse('2016-09-04T12:00:00Z');
const SPAN_MS = Date.parse('2018-10-01T00:00:00Z') - START;
const DAY = 86_400_000;

const PLACES: readonly (readonly [string, string, number])[] = [
  ['sao paulo', 'SP', 15],
  ['rio de janeiro', 'RJ', 7],
  ['belo horizonte', 'MG', 3],
  ['brasilia', 'DF', 2],
  ['curitiba', 'PR', 1.5],
  ['campinas', 'SP', 1.5],
  ['porto alegre', 'RS', 1.4],
  ['salvador', 'BA', 1.3],
  ['guarulhos', 'SP', 1.2],
  ['sao bernardo do campo', 'SP', 1],
  ['niteroi', 'RJ', 0.9],
  ['santo andre', 'SP', 0.8],
  ['osasco', 'SP', 0.8],
  ['goiania', 'GO', 0.7],
  ['recife', 'PE', 0.6],
  ['fortaleza', 'CE', 0.6],
  ["santa barbara d'oeste", 'SP', 0.2],
  ['joao pessoa', 'PB', 0.3],
  ['florianopolis', 'SC', 0.5],
  ['manaus', 'AM', 0.3],
];
const PLACE_WEIGHTS = PLACES.map((p) => p[2]);

const STATUSES = ['delivered', 'shipped', 'canceled', 'unavailable', 'invoiced', 'processing', 'created', 'approved'] as const;
const STATUS_WEIGHTS = [96.5, 1.1, 0.63, 0.61, 0.32, 0.3, 0.03, 0.01];
const PAY_TYPES = ['credit_card', 'boleto', 'voucher', 'debit_card'] as const;
const PAY_WEIGHTS = [74, 19, 5.5, 1.5];
const SCORES = [1, 2, 3, 4, 5];
const SCORE_WEIGHTS = [11.5, 3.2, 8.2, 19.3, 57.8];
const TITLES = ['', '', '', '', 'recomendo', 'Otimo', 'Ruim', 'Super recomendo', 'nao recebi', 'Bom, mas demorou'];
const MESSAGES = [
  '',
  '',
  '',
  'Recebi bem antes do prazo estipulado.',
  'Produto otimo, entrega rapida, recomendo!',
  'Nao recebi o produto ate agora.',
  'Veio diferente do anunciado, "azul" e nao preto.',
  'bom',
  'A entrega atrasou, mas o vendedor respondeu rapido.',
  'Parabens lojas, otimo atendimento',
];

/** `YYYY-MM-DD HH:mm:ss` of an instant, the original's timestamp layout (local time in Brazil). */
function stamp(ms: number): string {
  const t = new Date(ms).toISOString();
  return `${t.slice(0, 10)} ${t.slice(11, 19)}`;
}
const day = (ms: number) => `${new Date(ms).toISOString().slice(0, 10)} 00:00:00`;
const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * A 32-hex id unique to `index` (below 2^32) among the ids made with the same `salt`: 24 random hex
 * characters, then the index through a bijection (mix32 is one). Each order's random stream has 32
 * bits of state, so fully random ids repeated: 41 order ids and 41 customer ids twice in 1,000,000
 * orders, and the importer rightly rejected the orders whose customer_id lookup found two rows.
 */
function uniqueHex(rng: Rng, index: number, salt: number): string {
  return rng.hex(24) + (mix32((index ^ salt) >>> 0) >>> 0).toString(16).padStart(8, '0');
}

/** A person: the unique id and the place, from the person's own stream. */
function person(seed: number, index: number) {
  const rng = new Rng(mix32(seed ^ mix32(index + 0x5bd1e995)));
  const place = rng.weighted(PLACES, PLACE_WEIGHTS);
  return {
    uniqueId: uniqueHex(rng, index, 0x1b873593),
    zip: String(rng.int(1000, 99990)).padStart(5, '0'),
    city: place[0],
    state: place[1],
  };
}

/** The rows one order contributes to each file. */
export interface EcommerceOrderRows {
  customer: string;
  order: string;
  payments: string[];
  reviews: string[];
}

/**
 * The rows of order `i` (pure: the same `i` gives the same rows whatever the number of orders).
 * The person of an order is new, or (repeatRate) one of the persons of earlier orders.
 */
export function ecommerceOrder(seed: number, i: number, repeatRate = 0.25): EcommerceOrderRows {
  const rng = new Rng(mix32(seed ^ mix32(i ^ 0x9e3779b9)));
  // persons are numbered by the order that introduced them: order i introduces person i unless repeating
  const who = i > 0 && rng.chance(repeatRate) ? rng.int(0, i - 1) : i;
  const p = person(seed, firstOrderOf(seed, who, repeatRate));
  const orderId = uniqueHex(rng, i, 0x68e31da4);
  const customerId = uniqueHex(rng, i, 0x27d4eb2f);
  const status = rng.weighted(STATUSES, STATUS_WEIGHTS);
  const purchase = START + Math.floor(rng.next() * SPAN_MS);
  const approved =
    status === 'created' || (status === 'canceled' && rng.chance(0.2)) ? '' : stamp(purchase + rng.int(60, 36 * 3600) * 1000);
  const shipped = status === 'delivered' || status === 'shipped';
  const carrier = shipped ? purchase + rng.int(1, 5) * DAY + rng.int(0, 86_399) * 1000 : 0;
  const delivered = status === 'delivered' ? carrier + rng.int(1, 20) * DAY + rng.int(0, 86_399) * 1000 : 0;
  const estimated = purchase + rng.int(10, 40) * DAY;
  const order = [
    orderId,
    customerId,
    status,
    stamp(purchase),
    approved,
    carrier ? stamp(carrier) : '',
    delivered ? stamp(delivered) : '',
    day(estimated),
  ].join(',');
  const customer = [customerId, p.uniqueId, p.zip, p.city, p.state].join(',');

  // payments: the order's value split in 1 part (97%) or a card/boleto plus 1-3 vouchers
  const value = Math.max(9.59, Math.round(rng.logNormal(105, 0.75) * 100) / 100);
  const parts = rng.chance(0.03) ? rng.int(2, 4) : 1;
  const payments: string[] = [];
  let left = Math.round(value * 100);
  for (let s = 1; s <= parts; s++) {
    const last = s === parts;
    const cents = last ? left : Math.max(1, Math.round(left * rng.real(0.1, 0.5)));
    left -= cents;
    const type = parts > 1 && s > 1 ? 'voucher' : rng.weighted(PAY_TYPES, PAY_WEIGHTS);
    const installments = type === 'credit_card' ? rng.weighted([1, 2, 3, 4, 5, 6, 8, 10], [50, 12, 10, 7, 5, 5, 5, 6]) : 1;
    payments.push(`${orderId},${s},${type},${installments},${(cents / 100).toFixed(2)}`);
  }

  // reviews: asked after delivery (or the estimated date), answered 0-5 days later
  const reviews: string[] = [];
  const count = rng.chance(0.01) ? 0 : rng.chance(0.005) ? 2 : 1;
  for (let r = 0; r < count; r++) {
    const late = delivered > estimated || status === 'canceled' || status === 'unavailable';
    const score = late ? rng.weighted(SCORES, [45, 10, 15, 15, 15]) : rng.weighted(SCORES, SCORE_WEIGHTS);
    const created = Math.floor((delivered || estimated) / DAY) * DAY + rng.int(0, 2) * DAY;
    const answered = created + rng.int(3600, 5 * 86_400) * 1000;
    reviews.push(
      [
        uniqueHex(rng, i * 2 + r, 0x165667b1),
        orderId,
        String(score),
        csvCell(rng.pick(TITLES)),
        csvCell(rng.pick(MESSAGES)),
        day(created),
        stamp(answered),
      ].join(','),
    );
  }
  return { customer, order, payments, reviews };
}

/** The order that introduced person `who` (who repeats resolve to a first order, deterministically). */
function firstOrderOf(seed: number, who: number, repeatRate: number): number {
  // order `who` may itself be a repeat: follow the chain back to the order that introduced a new person
  let i = who;
  for (;;) {
    const rng = new Rng(mix32(seed ^ mix32(i ^ 0x9e3779b9)));
    if (!(i > 0 && rng.chance(repeatRate))) return i;
    i = rng.int(0, i - 1);
  }
}

async function put(out: WriteStream, text: string) {
  if (!out.write(text)) await once(out, 'drain');
}

/** Writes the four files of `options.orders` orders into `dir` (created if needed); returns their paths. */
export async function writeEcommerceExport(dir: string, options: EcommerceOptions): Promise<Record<keyof typeof ECOMMERCE_FILES, string>> {
  mkdirSync(dir, { recursive: true });
  const seed = hashString(options.seed ?? 'cem');
  const paths = Object.fromEntries(Object.entries(ECOMMERCE_FILES).map(([k, f]) => [k, join(dir, f)])) as Record<
    keyof typeof ECOMMERCE_FILES,
    string
  >;
  const outs = {
    customers: createWriteStream(paths.customers),
    orders: createWriteStream(paths.orders),
    payments: createWriteStream(paths.payments),
    reviews: createWriteStream(paths.reviews),
  };
  const buf = {
    customers: 'customer_id,customer_unique_id,customer_zip_code_prefix,customer_city,customer_state\n',
    orders:
      'order_id,customer_id,order_status,order_purchase_timestamp,order_approved_at,order_delivered_carrier_date,order_delivered_customer_date,order_estimated_delivery_date\n',
    payments: 'order_id,payment_sequential,payment_type,payment_installments,payment_value\n',
    reviews: 'review_id,order_id,review_score,review_comment_title,review_comment_message,review_creation_date,review_answer_timestamp\n',
  };
  const flush = async (force: boolean) => {
    for (const k of Object.keys(buf) as (keyof typeof buf)[])
      if (force || buf[k].length > 1 << 16) {
        await put(outs[k], buf[k]);
        buf[k] = '';
      }
  };
  for (let i = 0; i < options.orders; i++) {
    const rows = ecommerceOrder(seed, i, options.repeatRate);
    buf.customers += rows.customer + '\n';
    buf.orders += rows.order + '\n';
    for (const p of rows.payments) buf.payments += p + '\n';
    for (const r of rows.reviews) buf.reviews += r + '\n';
    if ((i & 255) === 0) await flush(false);
  }
  await flush(true);
  await Promise.all(
    Object.values(outs).map(async (o) => {
      o.end();
      await once(o, 'finish');
    }),
  );
  return paths;
}

/** `node dist/seeds/src/ecommerce.js <dir> [orders] [seed]` */
if (require.main === module) {
  const [dir, orders = '10000', seed = 'cem'] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: ecommerce <out-dir> [orders=10000] [seed=cem]');
    process.exit(1);
  }
  writeEcommerceExport(dir, { orders: Number(orders), seed }).then(
    (p) => console.log(`wrote ${Object.values(p).join(', ')}`),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
