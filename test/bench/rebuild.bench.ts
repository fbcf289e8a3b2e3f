import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '@cem/config';
import { SqliteEventStore } from '@cem/event-store';
import { openPlatform } from '@cem/platform';
import { READ_MODELS, type RebuildRecord } from '@cem/read-models';
import { writeLog } from './projection.bench';
import type { LoadSummary, PhaseSummary } from './rebuild-load-child';
import { loadAverage, record } from './report';

export interface RebuildBenchOptions {
  /** touch-point events in the log before the rebuild (registrations come on top) */
  events: number;
  customers: number;
  /** the load's rate during the whole measurement */
  ingestPerSecond: number;
  /** events per HTTP batch of the load (default 50: a batch every 50 ms at 1,000 events/s) */
  ingestBatch?: number;
  /** seconds of load before the rebuild starts and after it ends, for comparison (default 10) */
  quietSeconds?: number;
  /**
   * who runs the rebuild: `cem rebuild all` in its own process (default), or the API (POST
   * /v1/admin/rebuilds, run in a worker thread of the API process, followed by GET /v1/admin/rebuilds/{id})
   */
  via?: 'cli' | 'api';
}

const KEY = 'bench-rebuild-key-0123456789';
// the compiled bench (npm run bench) runs the compiled apps; a TypeScript run starts them through swc
const TS = __filename.endsWith('.ts');
const ROOT = resolve(__dirname, '..', '..');
const entry = (file: string) => join(ROOT, TS ? file : file.replace(/\.ts$/, '.js'));
const execArgv = TS ? ['-r', '@swc-node/register'] : [];

/** The peak RSS (VmHWM) of another process so far, in MB; NaN where /proc is not there. */
function peakRssOf(pid: number | undefined): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a child's peak RSS until it exits (its last sample is at most half a second old). */
function watchRss(child: ChildProcess): () => number {
  let peak = NaN;
  const sample = () => {
    const mb = peakRssOf(child.pid);
    if (!Number.isNaN(mb)) peak = Number.isNaN(peak) ? mb : Math.max(peak, mb);
  };
  const timer = setInterval(sample, 500);
  child.once('exit', () => clearInterval(timer));
  return () => {
    sample();
    return peak;
  };
}

/**
 * POST /v1/admin/rebuilds for every read model, then its progress polled until it ends; the last record
 * and how many polls got no answer within 30 s (under a heavy load one such GET once waited over 300 s).
 */
async function rebuildThroughApi(baseUrl: string): Promise<{ record: RebuildRecord; unansweredPolls: number }> {
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  const res = await fetch(`${baseUrl}/v1/admin/rebuilds`, { method: 'POST', headers, body: JSON.stringify({ readModels: ['all'] }) });
  if (res.status !== 202) throw new Error(`POST /v1/admin/rebuilds answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as RebuildRecord;
  const started = performance.now();
  let shown = 0;
  let unansweredPolls = 0;
  for (;;) {
    const r = await fetch(`${baseUrl}/v1/admin/rebuilds/${id}`, { headers, signal: AbortSignal.timeout(30_000) })
      .then((answer) => answer.json() as Promise<RebuildRecord>)
      .catch(() => undefined);
    if (!r) {
      unansweredPolls++;
      console.log(`  rebuild ${id}: GET /v1/admin/rebuilds/${id} got no answer within 30 s (${unansweredPolls} so far)`);
      continue;
    }
    if (r.state !== 'building' && r.phase !== 'switching') return { record: r, unansweredPolls };
    const secs = (performance.now() - started) / 1000;
    if (secs - shown >= 5) {
      shown = secs;
      console.log(`  rebuild ${id}: ${r.phase}, position ${r.position} of ${r.targetPosition}, ${r.eventsPerSecond} events/s`);
    }
    await sleep(250);
  }
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `cem <args>` in its own process, as an operator runs it; its stderr (the progress line) goes to the bench's. */
function cem(dataDir: string, args: string[]): { child: ChildProcess; output: Promise<string> } {
  const child = spawn(process.execPath, [...execArgv, entry('apps/cli/src/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const output = exited(child).then((code) => {
    if (code !== 0) throw new Error(`cem ${args.join(' ')} exited with ${code}: ${out.slice(-2000)}`);
    return out;
  });
  return { child, output };
}

/** The API as ops run it: its own process, the projector inside, durable appends (the default). */
async function startApi(dataDir: string): Promise<{ api: ChildProcess; baseUrl: string }> {
  const api = spawn(process.execPath, [...execArgv, entry('apps/api/src/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      PROJECTOR: 'embedded',
      LOG_LEVEL: 'info',
      API_KEYS: `ingest+analyst+ops:${KEY}`,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk;
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) {
        api.stdout!.off('data', onData);
        api.stdout!.resume();
        resolvePort(Number(m[1]));
      }
    };
    api.stdout!.on('data', onData);
    api.once('exit', (code) => reject(new Error(`api exited with ${code}`)));
  });
  return { api, baseUrl: `http://127.0.0.1:${port}` };
}

/** Waits until the API's projector has caught up with the log once (GET /health/ready answers 200), showing its progress. */
async function whenReady(baseUrl: string): Promise<void> {
  const started = performance.now();
  let shown = 0;
  for (;;) {
    const res = await fetch(`${baseUrl}/health/ready`).catch(() => undefined);
    if (res?.status === 200) return;
    const body = (await res?.json().catch(() => undefined)) as
      { eventStore?: { headPosition: number }; projections?: { checkpoint?: number } } | undefined;
    const secs = (performance.now() - started) / 1000;
    if (secs - shown >= 10) {
      shown = secs;
      console.log(
        `  live copy: checkpoint ${body?.projections?.checkpoint ?? '?'} of ${body?.eventStore?.headPosition ?? '?'} after ${secs.toFixed(0)} s`,
      );
    }
    await sleep(500);
  }
}

const ms = (x: number | null) => (x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(0)); // NaN comes through the child's IPC as null
const failures = (p: PhaseSummary) =>
  Object.keys(p.failures).length === 0
    ? 'no failed requests'
    : `failed requests by status: ${Object.entries(p.failures)
        .map(([s, n]) => `${s} x${n}`)
        .join(', ')}`;

/**
 * The blue/green rebuild of every read model (`cem rebuild all`, docs/operations.md) as ops run it,
 * with ingestion going on: a log written straight into the embedded store; the API in its own process
 * with its projector (the live copy projected at its start); an HTTP load client in a third process
 * sending batches at a fixed rate (rebuild-load-child.ts) and timing each until it is visible in the
 * live customer 360; then `cem rebuild all` in a fourth process (shadow from position 0, catch-up,
 * verify against a second, scratch rebuild, switch). Reports the rebuild's time and events/s, the load
 * achieved and its ingest-to-visible p50/p99 before, during and after the rebuild, and each process's
 * peak RSS.
 */
export async function benchRebuild(options: RebuildBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-rebuild-'));
  const batch = options.ingestBatch ?? 50;
  const quiet = (options.quietSeconds ?? 10) * 1000;
  const via = options.via ?? 'cli';
  const children: ChildProcess[] = [];
  try {
    console.log(
      `\n# rebuild: ${options.events.toLocaleString('en-US')} events, ${options.customers.toLocaleString('en-US')} customers, ` +
        `blue/green rebuild of all read models (${via === 'cli' ? 'cem rebuild all, its own process' : 'POST /v1/admin/rebuilds, a worker thread of the API'}) with HTTP ingestion at ${options.ingestPerSecond} events/s ` +
        `(batches of ${batch}, a load client in its own process); load average ${loadAverage()}`,
    );
    const platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }));
    try {
      writeLog(platform.store as SqliteEventStore, options.events, options.customers);
    } finally {
      await platform.close();
    }

    const t0 = performance.now();
    const { api, baseUrl } = await startApi(dir);
    children.push(api);
    const apiRss = watchRss(api);
    await whenReady(baseUrl);
    console.log(`  live copy projected by the API's projector in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

    const load = fork(entry('test/bench/rebuild-load-child.ts'), [baseUrl, KEY, String(options.ingestPerSecond), String(batch)], {
      cwd: ROOT,
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(load);
    const summary = new Promise<LoadSummary>((resolveSummary, reject) => {
      load.on('message', (m: { summary?: LoadSummary }) => m.summary && resolveSummary(m.summary));
      load.once('exit', (code) => reject(new Error(`the load client exited with ${code} before its summary`)));
    });
    await new Promise<void>((r) => load.once('message', () => r()));
    await sleep(quiet);

    load.send({ phase: 'rebuild' });
    const loadAtRebuild = loadAverage();
    const t1 = performance.now();
    let cliRss = () => NaN;
    let out: string;
    let unansweredPolls = 0;
    if (via === 'cli') {
      const rebuild = cem(dir, ['rebuild', 'all', '--actor', 'bench']);
      children.push(rebuild.child);
      cliRss = watchRss(rebuild.child);
      out = await rebuild.output;
    } else {
      const done = await rebuildThroughApi(baseUrl);
      out = JSON.stringify(done.record);
      unansweredPolls = done.unansweredPolls;
    }
    const secs = (performance.now() - t1) / 1000;
    load.send({ phase: 'after' });
    await sleep(quiet);
    load.send({ stop: true });
    const { phases, maxRssMb: loadRss } = await summary;

    const status = await cem(dir, ['rebuild', 'status', '--json']).output;
    const done = (JSON.parse(status) as RebuildRecord[])[0];
    if (done?.state !== 'switched') throw new Error(`the rebuild did not switch: ${out}`);
    const during = phases.find((p) => p.phase === 'rebuild')!;
    const before = phases.find((p) => p.phase === 'before')!;
    const after = phases.find((p) => p.phase === 'after')!;
    const rate = (p: PhaseSummary) => p.eventsAcked / p.seconds;

    record({
      group: 'rebuild',
      name: `blue/green rebuild of all ${READ_MODELS.length} read models (${via === 'cli' ? 'cem rebuild all' : 'POST /v1/admin/rebuilds'}, ${done.position.toLocaleString('en-US')} log events at the switch), HTTP ingestion running`,
      value: secs,
      unit: 's',
      note: `projecting, catching up, verifying at a fixed position (a second, scratch rebuild to it, the shadow following the log meanwhile) and switching; load average ${loadAtRebuild} at its start${via === 'api' ? `; ${unansweredPolls} progress polls unanswered within 30 s` : ''}`,
    });
    record({
      group: 'rebuild',
      name: 'rebuild: log events per second of the whole blue/green rebuild',
      value: done.position / secs,
      unit: 'events/s',
    });
    record({
      group: 'rebuild',
      name: "rebuild: projection of the shadow and of the verification's scratch copy, events/s summed over the read models",
      value: done.eventsPerSecond,
      unit: 'events/s',
    });
    // the switch's time under the live write lock, as its record says (blue-green-rebuild.ts)
    const locked = /\((\d+) ms under the live write lock/.exec(done.message ?? '');
    record({
      group: 'rebuild',
      name: 'rebuild: the switch, time under the live write lock',
      value: locked ? Number(locked[1]) : NaN,
      unit: 'ms',
      note: done.message ?? '',
    });
    record({
      group: 'rebuild',
      name: 'ingestion during the rebuild: events/s acknowledged',
      value: rate(during),
      unit: 'events/s',
      note: `asked ${options.ingestPerSecond}/s; ${during.batchesSent} batches sent, ${during.batchesSkipped} skipped (64 unanswered), ${failures(during)}; before it ${rate(before).toFixed(0)}/s, after it ${rate(after).toFixed(0)}/s`,
    });
    record({
      group: 'rebuild',
      name: 'ingest-to-visible in the live 360 during the rebuild: p50 / p99 / max',
      value: during.visibleMs.p99,
      unit: 'ms (p99)',
      note: `${ms(during.visibleMs.p50)} / ${ms(during.visibleMs.p99)} / ${ms(during.visibleMs.max)} ms; before it ${ms(before.visibleMs.p50)} / ${ms(before.visibleMs.p99)}, after it ${ms(after.visibleMs.p50)} / ${ms(after.visibleMs.p99)}; ack p99 during ${ms(during.ackMs.p99)} ms`,
    });
    record({
      group: 'rebuild',
      name: `peak RSS: API (projector inside${via === 'api' ? ', and the rebuild in its worker thread' : ''}) / cem rebuild / load client`,
      value: apiRss(),
      unit: 'MB (API)',
      note: `${apiRss().toFixed(0)} / ${via === 'cli' ? cliRss().toFixed(0) : '-'} / ${loadRss.toFixed(0)} MB`,
    });
    api.kill('SIGTERM');
    await exited(api);
    console.log(`  load average at the end of the rebuild section: ${loadAverage()}`);
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
