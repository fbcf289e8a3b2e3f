import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ecommerceOrder, writeEcommerceExport } from '../../seeds/src/ecommerce';
import { hashString } from '../../seeds/src/prng';
import { loadAverage, record } from './report';

export interface ImportBenchOptions {
  /** rows of the generated CSV (the brief: 1,000,000) */
  rows: number;
  /** events per append (default 5000) */
  batchSize?: number;
  /** rows per customer (default 10) */
  rowsPerCustomer?: number;
}

/** Writes a purchases export of `rows` rows, streamed (the generator itself stays small). */
export async function writeBenchCsv(path: string, rows: number, rowsPerCustomer = 10): Promise<void> {
  const out = createWriteStream(path);
  out.write('order_id,ordered_at,email,channel,amount,items\n');
  const base = Date.parse('2024-01-01T00:00:00Z');
  const channels = ['W', 'A', 'S'];
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    const t = new Date(base + i * 7_000).toISOString();
    const c = Math.floor(i / rowsPerCustomer);
    chunk += `ORD-${i},${t.slice(0, 10)} ${t.slice(11, 19)},customer${c}@example.com,${channels[i % 3]},${(5 + (i % 200) + 0.99).toFixed(2)},${1 + (i % 4)}\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

interface ChildResult {
  seconds: number;
  /** the import process's CPU time (user + system) over the import */
  cpuSeconds: number;
  rowsRead: number;
  eventsImported: number;
  rowsRejected: number;
  maxRssMb: number;
}

/** Runs one import in a child process (its own peak RSS) against a fresh embedded data dir. */
function importInChild(file: string, dataDir: string, batchSize: number, mappingFile?: string): Promise<ChildResult> {
  const ts = __filename.endsWith('.ts');
  const child = spawn(
    process.execPath,
    [
      ...(ts ? ['-r', '@swc-node/register'] : []),
      join(__dirname, `import-child.${ts ? 'ts' : 'js'}`),
      file,
      dataDir,
      String(batchSize),
      ...(mappingFile ? [mappingFile] : []),
    ],
    {
      env: { ...process.env, SQLITE_SYNCHRONOUS: process.env.SQLITE_SYNCHRONOUS ?? 'FULL' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`import child exited with ${code}`)),
    );
  });
}

/**
 * `cem import` throughput on a generated CSV into the embedded store (read, map, validate with the
 * HTTP DTOs, resolve identities, append durably), and peak RSS at a tenth of the size and at full
 * size: flat RSS means memory does not grow with the file.
 */
export async function benchImport(options: ImportBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-import-'));
  const batchSize = options.batchSize ?? 5000;
  try {
    console.log(`\n# import: generated CSV of ${options.rows.toLocaleString('en-US')} rows, batches of ${batchSize} events`);
    const small = Math.max(1000, Math.round(options.rows / 10));
    const smallFile = join(dir, 'small.csv');
    const bigFile = join(dir, 'big.csv');
    await writeBenchCsv(smallFile, small, options.rowsPerCustomer);
    await writeBenchCsv(bigFile, options.rows, options.rowsPerCustomer);
    const mb = (f: string) => (statSync(f).size / 1024 / 1024).toFixed(0);

    const loadAtStart = loadAverage();
    const a = await importInChild(smallFile, join(dir, 'data-small'), batchSize);
    const b = await importInChild(bigFile, join(dir, 'data-big'), batchSize);
    for (const r of [a, b])
      if (r.rowsRejected > 0 || r.eventsImported !== r.rowsRead) throw new Error(`bench import rejected rows: ${JSON.stringify(r)}`);
    const plainRate = b.rowsRead / b.seconds;
    record({
      group: 'import',
      name: `CSV import, ${b.rowsRead.toLocaleString('en-US')} rows (${mb(bigFile)} MB) into the embedded store`,
      value: b.rowsRead / b.seconds,
      unit: 'rows/s',
      note: `target >= 50,000; ${((1e6 * b.cpuSeconds) / b.rowsRead).toFixed(1)} us CPU/row in the importing process (its own); one run; load ${loadAtStart} -> ${loadAverage()}`,
    });
    record({
      group: 'import',
      name: `peak RSS, ${a.rowsRead.toLocaleString('en-US')} rows (${mb(smallFile)} MB)`,
      value: a.maxRssMb,
      unit: 'MB',
    });
    record({
      group: 'import',
      name: `peak RSS, ${b.rowsRead.toLocaleString('en-US')} rows (${mb(bigFile)} MB)`,
      value: b.maxRssMb,
      unit: 'MB',
      note: `${(b.maxRssMb / a.maxRssMb).toFixed(2)}x the small file's: flat means constant memory`,
    });
    await benchImportLookups(dir, options.rows, batchSize, plainRate);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The shipped mappings (seeds/mappings), from test/bench or from its build in dist/test/bench. */
const MAPPINGS = join(__dirname, ...(__filename.endsWith('.ts') ? ['..', '..'] : ['..', '..', '..']), 'seeds', 'mappings');

/**
 * The same orders pre-joined into one file (the person's customer_unique_id and the first payment's
 * value as columns), streamed from the generator: the control that isolates what the lookups cost
 * from what the layout costs anyway (two identifiers per order, a customer per person).
 */
async function writeJoinedOrders(path: string, orders: number, seed: string): Promise<void> {
  const out = createWriteStream(path);
  const s = hashString(seed);
  let chunk =
    'order_id,customer_id,order_status,order_purchase_timestamp,order_approved_at,order_delivered_carrier_date,order_delivered_customer_date,order_estimated_delivery_date,customer_unique_id,payment_value\n';
  for (let i = 0; i < orders; i++) {
    const rows = ecommerceOrder(s, i);
    chunk += `${rows.order},${rows.customer.split(',')[1]},${rows.payments[0].split(',')[4]}\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

/** ecommerce-orders.json with every lookup value replaced by the pre-joined column of the same name. */
function joinedMapping(mappingFile: string, out: string): string {
  const spec = JSON.parse(readFileSync(mappingFile, 'utf8')) as Record<string, unknown>;
  delete spec.lookups;
  const unlookup = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(unlookup);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if (o.lookup) {
      const { lookup, ...rest } = o;
      return { ...rest, column: (lookup as { column: string }).column };
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unlookup(x)]));
  };
  writeFileSync(out, JSON.stringify({ ...spec, name: 'ecommerce-orders-joined', events: unlookup(spec.events) }));
  return out;
}

/**
 * The multi-file e-commerce layout (seeds/src/ecommerce.ts): orders.csv of `rows` rows imported with
 * the shipped ecommerce-orders.json, whose lookups join customers.csv and order_payments.csv (about
 * as many rows each) through the on-disk index (built at the start of the import, part of the time);
 * at a tenth of the size and at full size. Compared with the same orders pre-joined into one file
 * (same events, no lookups: what the lookups themselves cost) and with the plain CSV import above.
 */
async function benchImportLookups(dir: string, rows: number, batchSize: number, plainRate: number): Promise<void> {
  console.log(`\n# import with lookups: generated multi-file e-commerce export, orders.csv of ${rows.toLocaleString('en-US')} rows`);
  const small = Math.max(1000, Math.round(rows / 10));
  const smallPaths = await writeEcommerceExport(join(dir, 'ecommerce-small'), { orders: small, seed: 'bench' });
  const bigPaths = await writeEcommerceExport(join(dir, 'ecommerce-big'), { orders: rows, seed: 'bench' });
  const joinedFile = join(dir, 'ecommerce-joined.csv');
  await writeJoinedOrders(joinedFile, rows, 'bench');
  const mapping = join(MAPPINGS, 'ecommerce-orders.json');
  const joined = joinedMapping(mapping, join(dir, 'ecommerce-orders-joined.json'));
  const mb = (paths: Record<string, string>) =>
    (Object.values(paths).reduce((n, f) => (f.endsWith('reviews.csv') ? n : n + statSync(f).size), 0) / 1024 / 1024).toFixed(0);

  const a = await importInChild(smallPaths.orders, join(dir, 'data-ecommerce-small'), batchSize, mapping);
  const b = await importInChild(bigPaths.orders, join(dir, 'data-ecommerce-big'), batchSize, mapping);
  const c = await importInChild(joinedFile, join(dir, 'data-ecommerce-joined'), batchSize, joined);
  for (const r of [a, b, c])
    if (r.rowsRejected > 0 || r.eventsImported !== r.rowsRead)
      throw new Error(`bench import with lookups rejected rows: ${JSON.stringify(r)}`);
  const rate = b.rowsRead / b.seconds;
  const joinedRate = c.rowsRead / c.seconds;
  record({
    group: 'import',
    name: `CSV import with 2 lookups (customers, payments), ${b.rowsRead.toLocaleString('en-US')} order rows (${mb(bigPaths)} MB in 3 files)`,
    value: rate,
    unit: 'rows/s',
    note: `${(joinedRate / rate).toFixed(2)}x the pre-joined file's time per row (target <= 1.5x), ${(b.cpuSeconds / b.rowsRead / (c.cpuSeconds / c.rowsRead)).toFixed(2)}x its CPU per row (each import in a fresh process of its own, one run each); ${(plainRate / rate).toFixed(2)}x the plain CSV import's`,
  });
  record({
    group: 'import',
    name: `same orders pre-joined in one file (no lookups, same events), ${c.rowsRead.toLocaleString('en-US')} rows`,
    value: joinedRate,
    unit: 'rows/s',
    note: `peak RSS ${c.maxRssMb.toFixed(0)} MB`,
  });
  record({
    group: 'import',
    name: `peak RSS with lookups, ${a.rowsRead.toLocaleString('en-US')} order rows`,
    value: a.maxRssMb,
    unit: 'MB',
  });
  record({
    group: 'import',
    name: `peak RSS with lookups, ${b.rowsRead.toLocaleString('en-US')} order rows`,
    value: b.maxRssMb,
    unit: 'MB',
    note: `${(b.maxRssMb / a.maxRssMb).toFixed(2)}x the small export's; ${(b.maxRssMb / c.maxRssMb).toFixed(2)}x the pre-joined import's`,
  });
}
