import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { record } from './report';

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
  rowsRead: number;
  eventsImported: number;
  rowsRejected: number;
  maxRssMb: number;
}

/** Runs one import in a child process (its own peak RSS) against a fresh embedded data dir. */
function importInChild(file: string, dataDir: string, batchSize: number): Promise<ChildResult> {
  const ts = __filename.endsWith('.ts');
  const child = spawn(
    process.execPath,
    [...(ts ? ['-r', '@swc-node/register'] : []), join(__dirname, `import-child.${ts ? 'ts' : 'js'}`), file, dataDir, String(batchSize)],
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

    const a = await importInChild(smallFile, join(dir, 'data-small'), batchSize);
    const b = await importInChild(bigFile, join(dir, 'data-big'), batchSize);
    for (const r of [a, b])
      if (r.rowsRejected > 0 || r.eventsImported !== r.rowsRead) throw new Error(`bench import rejected rows: ${JSON.stringify(r)}`);
    record({
      group: 'import',
      name: `CSV import, ${b.rowsRead.toLocaleString('en-US')} rows (${mb(bigFile)} MB) into the embedded store`,
      value: b.rowsRead / b.seconds,
      unit: 'rows/s',
      note: 'target >= 50,000',
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
