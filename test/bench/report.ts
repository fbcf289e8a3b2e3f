/** Collects benchmark rows and prints them as one markdown table, so runs paste into docs/benchmarks.md. */
export interface BenchRow {
  group: string;
  name: string;
  value: number;
  unit: string;
  /** e.g. "1.8x raw" or "target >= 30,000" */
  note?: string;
}

export const rows: BenchRow[] = [];

export function record(row: BenchRow): void {
  rows.push(row);
  console.log(`  ${row.group} | ${row.name}: ${fmt(row.value)} ${row.unit}${row.note ? ` (${row.note})` : ''}`);
}

export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

export function printTable(): string {
  const lines = ['| group | measurement | value | unit | note |', '| --- | --- | ---: | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.group} | ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.note ?? ''} |`);
  const table = lines.join('\n');
  console.log(`\n${table}\n`);
  return table;
}

/** One line of progress that rewrites itself on a terminal and prints plainly elsewhere. */
export function progress(label: string, done: number, total: number, startedAt: number): void {
  const secs = (performance.now() - startedAt) / 1000;
  const rate = done / Math.max(secs, 1e-9);
  const line = `  ${label}: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${Math.round((100 * done) / total)}%) ${fmt(rate)}/s`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line}${done >= total ? '\n' : ''}`);
  else if (done >= total || done % Math.max(1, Math.floor(total / 5)) < 1000) console.log(line);
}

export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}
