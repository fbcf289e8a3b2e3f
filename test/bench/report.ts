/** Collects benchmark rows and prints them as one markdown table, so runs paste into docs/benchmarks.md. */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
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

/** The 1-minute load average, printed with a section so a reader can tell a quiet run from a busy one. */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

export interface PairedRates {
  /** median of the runs, in the unit the measure returns (higher is better) */
  a: number;
  b: number;
  /** every run's figure, in the order measured within its side */
  aRuns: number[];
  bRuns: number[];
  /** median of the per-round ratios a/b: each round's two figures were taken back to back */
  ratio: number;
}

/**
 * Two measurements compared fairly: `rounds` rounds, each running both, alternating which goes first
 * (a b, b a, a b, ...), so neither always gets the cold file cache or the warm JIT. A one-shot raw-first
 * comparison once showed our adapter 1.4x *faster* than the raw inserts it is built on.
 */
export async function measurePaired(
  rounds: number,
  a: (round: number) => Promise<number> | number,
  b: (round: number) => Promise<number> | number,
): Promise<PairedRates> {
  const aRuns: number[] = [];
  const bRuns: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let ra: number;
    let rb: number;
    if (round % 2 === 0) {
      ra = await a(round);
      rb = await b(round);
    } else {
      rb = await b(round);
      ra = await a(round);
    }
    aRuns.push(ra);
    bRuns.push(rb);
    ratios.push(ra / rb);
  }
  return { a: median(aRuns), b: median(bRuns), aRuns, bRuns, ratio: median(ratios) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** "min-max over n runs" for a row's note */
export function spread(xs: number[]): string {
  return `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))} over ${xs.length} runs`;
}

/**
 * CPU time (user + system, microseconds) another process of this machine has used so far, from
 * /proc (Linux; undefined elsewhere): how a server child's own cost per event is told apart from its
 * load client's. Clock ticks are 100 per second on Linux.
 */
export function processCpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces) in parentheses: utime is the 12th, stime the 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}
