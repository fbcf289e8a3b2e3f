import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@cem/config';
import { deterministicUuid } from '@cem/domain';
import { SqliteEventStore, type StreamWrite } from '@cem/event-store';
import { openPlatform } from '@cem/platform';
import { DEFAULT_BATCH_SIZE, openReadStore, READ_MODELS, startProjector, type ReadStoreLocation } from '@cem/read-models';
import { freshDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/postgres-databases';
import { createApiApp } from '../../apps/api/src/bootstrap';
import { loadAverage, progress, record } from './report';

export interface ProjectionBenchOptions {
  /** touch-point events in the log (registrations come on top) */
  events: number;
  customers: number;
  /** most events per projector transaction (default: the projector's) */
  batchSize?: number;
  /** HTTP lookups per kind (by id, by identifier) */
  lookups?: number;
  /** ingest-to-visible probes */
  probes?: number;
}

const ANALYST_KEY = 'bench-analyst-key-0123456789';
const INGEST_KEY = 'bench-ingest-key-0123456789';
const BASE = Date.parse('2025-01-01T00:00:00Z');
const DAY = 86_400_000;

const customerId = (c: number) => deterministicUuid('bench-customer', String(c));
const email = (c: number) => `bench${c}@example.com`;

/**
 * A realistic log written straight into the store: customers interleaved, so each batch touches many.
 * `channels`: every event's channel taken in turn from this list (default: one channel per type).
 */
export function writeLog(store: SqliteEventStore, events: number, customers: number, channels?: readonly string[]): void {
  const started = performance.now();
  let written = 0;
  let writes: StreamWrite[] = [];
  const registered = new Uint8Array(customers);
  const flush = () => {
    store.appendManySync(writes);
    writes = [];
  };
  for (let i = 0; i < events; i++) {
    // a multiplicative walk over customers: consecutive events belong to different customers
    const c = (i * 7919) % customers;
    const id = customerId(c);
    const streamId = `customer-${id}`;
    const identifiers = [{ kind: 'email', value: email(c) }];
    const occurredAt = new Date(BASE + ((i * 104729) % 500) * DAY + (i % 86_400) * 1000).toISOString(); // not in log order: late events
    const metadata = { schemaVersion: 1, occurredAt, customerId: id, source: 'bench', identifiers };
    const batch: StreamWrite = { streamId, events: [] };
    if (!registered[c]) {
      registered[c] = 1;
      batch.events.push({
        eventId: deterministicUuid('reg', id),
        type: 'customer.registered',
        data: { customerId: id, identifiers },
        metadata,
      });
    }
    const eventId = deterministicUuid('bench-event', String(i));
    switch (i % 6) {
      case 0:
        batch.events.push({
          eventId,
          type: 'contact.handled',
          data: { direction: 'inbound', handleSeconds: 300, resolved: true },
          metadata: { ...metadata, channel: channels?.[i % channels.length] ?? 'phone', agentId: `a${i % 40}` },
        });
        break;
      case 1:
        batch.events.push({
          eventId,
          type: 'purchase.completed',
          data: { orderId: `o${i}`, amount: 49.95, currency: 'EUR' },
          metadata: { ...metadata, channel: channels?.[i % channels.length] ?? 'web' },
        });
        break;
      case 2:
        batch.events.push({
          eventId,
          type: 'survey.answered',
          data: { nps: i % 11, csat: 1 + (i % 5) },
          metadata: { ...metadata, channel: channels?.[i % channels.length] ?? 'email' },
        });
        break;
      case 3:
        batch.events.push({
          eventId,
          type: 'case.opened',
          data: { caseId: `k${i}`, priority: 'normal' },
          metadata: { ...metadata, channel: channels?.[i % channels.length] ?? 'chat' },
        });
        break;
      case 4:
        batch.events.push({
          eventId,
          type: 'web.visited',
          data: { url: 'https://shop.example.com/', pageViews: 3 },
          metadata: { ...metadata, channel: channels?.[i % channels.length] ?? 'web' },
        });
        break;
      default:
        batch.events.push({
          eventId,
          type: 'consent.changed',
          data: { purpose: 'marketing-email', granted: i % 2 === 0 },
          metadata: { ...metadata, channel: channels?.[i % channels.length] ?? 'app' },
        });
    }
    writes.push(batch);
    written++;
    if (writes.length >= 5000) {
      flush();
      progress('writing the log', written, events, started);
    }
  }
  flush();
  progress('writing the log', events, events, started);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function sampleRss(): { peakMb: () => number; stop: () => void } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  return { peakMb: () => Math.max(peak, process.memoryUsage().rss) / 1024 / 1024, stop: () => clearInterval(timer) };
}

function httpGet(agent: Agent, port: number, path: string, key: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function httpPost(agent: Agent, port: number, path: string, key: string, payload: unknown): Promise<{ status: number; body: string }> {
  const data = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * Rebuild of the customer 360 from position 0 (events/s and peak RSS while rebuilding), then
 * 360 lookups by id and by identifier over HTTP at that scale (p50/p99), then ingest-to-visible
 * under HTTP ingest load (p99). Prints its figures through report.ts.
 */
export async function benchProjection(options: ProjectionBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-rm-'));
  // the same measurements on the PostgreSQL read store, side by side, when DATABASE_URL names a server
  let postgres: TestDatabase | undefined;
  if (TEST_DATABASE_URL) postgres = await freshDatabase('cem_bench');
  else console.log('projection: PostgreSQL rows skipped, DATABASE_URL is not set (start a server with infra/postgres/start.sh)');
  const stores: BenchStore[] = [{ label: 'SQLite', location: { kind: 'sqlite', dataDir: dir } }];
  if (postgres) stores.push({ label: 'PostgreSQL', location: { kind: 'postgres', url: postgres.url } });
  try {
    const store = new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' });
    console.log(
      `projection: writing ${options.events.toLocaleString('en-US')} events over ${options.customers.toLocaleString('en-US')} customers`,
    );
    writeLog(store, options.events, options.customers);
    const head = await store.headPosition();
    for (const target of stores) await benchRebuild(store, target, head, options.batchSize ?? DEFAULT_BATCH_SIZE);
    await store.close();
    for (const target of stores) await benchLookups(dir, target, options.customers, options.lookups ?? 5000);
    for (const target of stores) await benchIngestToVisible(dir, target, options.probes ?? 300);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await postgres?.drop();
  }
}

/** A read store the projection figures are measured on: its label in the rows, and where it is. */
export interface BenchStore {
  label: 'SQLite' | 'PostgreSQL';
  location: ReadStoreLocation;
}

/** the configuration variables that select `target`'s read store */
const readStoreEnv = (target: BenchStore): Record<string, string> =>
  target.location.kind === 'postgres' ? { READ_STORE: 'postgres', DATABASE_URL: target.location.url } : { READ_STORE: 'sqlite' };

export async function benchRebuild(store: SqliteEventStore, target: BenchStore, head: number, batchSize: number): Promise<void> {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss / 1024 / 1024;
  const rss = sampleRss();
  const readStore = await openReadStore(target.location, { role: 'writer', poolSize: READ_MODELS.length + 2 });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const running = await startProjector({
    store,
    db: readStore.db,
    readStore,
    batchSize,
    onBatch: (b) => progress(`rebuilding the read models (${target.label})`, b.position, head, started),
  });
  await running.projector.whenCaughtUp(head, 3_600_000);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await running.close();
  await readStore.close();
  rss.stop();
  const on = target.label === 'SQLite' ? '' : ` on ${target.label}`;
  record({
    group: 'projection',
    name: `rebuild every read model from 0${on} (${READ_MODELS.map((m) => m.name).join(', ')}; ${head.toLocaleString('en-US')} events, batch ${batchSize})`,
    value: head / seconds,
    unit: 'events/s',
    note: 'target >= 100,000',
  });
  // wall time is shared with whatever else runs on the machine; CPU time of this process is not
  // (on PostgreSQL the server's own CPU time is not in it)
  record({
    group: 'projection',
    name: `rebuild CPU time per event (user + system)${on}${target.label === 'PostgreSQL' ? ', this process only' : ''}`,
    value: (used.user + used.system) / head,
    unit: 'us',
    note: `${Math.round(head / ((used.user + used.system) / 1e6)).toLocaleString('en-US')} events per CPU-second`,
  });
  record({
    group: 'projection',
    name: `peak RSS while rebuilding${on}`,
    value: rss.peakMb(),
    unit: 'MB',
    note: `${Math.round(rssBefore)} MB before; it grows with the customers (1.2 GB at 100,000 on 2026-12-01), not bounded by the batch`,
  });
}

export async function benchLookups(dir: string, target: BenchStore, customers: number, lookups: number): Promise<void> {
  const platform = openPlatform(
    loadConfig({
      DATA_DIR: dir,
      SQLITE_SYNCHRONOUS: 'NORMAL',
      LOG_LEVEL: 'error',
      API_KEYS: `analyst:${ANALYST_KEY}`,
      ...readStoreEnv(target),
    }),
  );
  const on = target.label === 'SQLite' ? '' : ` on ${target.label}`;
  const app = await createApiApp(platform);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const [name, path] of [
      ['by id', (c: number) => `/v1/customers/${customerId(c)}`],
      ['by identifier', (c: number) => `/v1/customers/lookup?identifier=email:${email(c)}`],
    ] as const) {
      for (let i = 0; i < 200; i++) await httpGet(agent, port, path(i % customers), ANALYST_KEY); // warm-up
      const times: number[] = [];
      for (let i = 0; i < lookups; i++) {
        const c = (i * 15485863) % customers;
        const t0 = performance.now();
        const res = await httpGet(agent, port, path(c), ANALYST_KEY);
        times.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`lookup ${name} answered ${res.status}`);
      }
      times.sort((a, b) => a - b);
      record({
        group: 'customer 360 over HTTP',
        name: `lookup ${name}${on} p50 (${customers.toLocaleString('en-US')} customers)`,
        value: percentile(times, 50),
        unit: 'ms',
      });
      record({
        group: 'customer 360 over HTTP',
        name: `lookup ${name}${on} p99`,
        value: percentile(times, 99),
        unit: 'ms',
        note: 'target < 5',
      });
    }
  } finally {
    agent.destroy();
    await app.close();
    await platform.close();
  }
}

export async function benchIngestToVisible(dir: string, target: BenchStore, probes: number, ratePerSecond = 2000): Promise<void> {
  // the embedded default as a user runs it: one API process with the projector inside (read models
  // already caught up), durable appends; load and probes come from this process over loopback
  const api = spawn(process.execPath, [resolve(__dirname, '../../apps/api/src/main.js')], {
    env: {
      ...process.env,
      DATA_DIR: dir,
      PORT: '0',
      HOST: '127.0.0.1',
      PROJECTOR: 'embedded',
      SQLITE_SYNCHRONOUS: 'FULL',
      LOG_LEVEL: 'info',
      API_KEYS: `analyst:${ANALYST_KEY},ingest:${INGEST_KEY}`,
      ...readStoreEnv(target),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    api.stdout!.on('data', (chunk) => {
      out += chunk;
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) resolvePort(Number(m[1]));
    });
    api.once('exit', (code) => reject(new Error(`api exited with ${code}`)));
  });
  api.stdout!.resume();
  const loadAgent = new Agent({ keepAlive: true, maxSockets: 2 });
  const probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; (await httpGet(probeAgent, port, '/health/ready', ANALYST_KEY).catch(() => ({ status: 0 }))).status !== 200; i++) {
    if (i > 6000) throw new Error('api never became ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const loadBefore = loadAverage();
  let loading = true;
  let loaded = 0;
  let n = 0;
  const now = Date.now();
  const envelope = (c: string, type = 'contact.handled') => ({
    eventId: deterministicUuid('bench-visible', String(now), String(n++)),
    type,
    occurredAt: new Date(now - 60_000).toISOString(),
    source: 'bench',
    channel: type === 'contact.handled' ? 'phone' : 'email',
    customer: { identifiers: [{ kind: 'email', value: c }] },
    data: type === 'contact.handled' ? { direction: 'inbound', handleSeconds: 200, resolved: true } : { nps: 8 },
  });
  // an open-loop load at a fixed rate (a closed loop would only measure its own queue)
  const loader = async () => {
    const perBatch = Math.max(1, Math.round((ratePerSecond / 2) * 0.1));
    let next = performance.now();
    while (loading) {
      const events = Array.from({ length: perBatch }, () => envelope(`load${n % 20_000}@example.com`));
      const res = await httpPost(loadAgent, port, '/v1/events:batch', INGEST_KEY, { events });
      if (res.status !== 200) throw new Error(`load batch answered ${res.status}`);
      loaded += events.length;
      next += 100;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
  };
  const started = performance.now();
  const loaders = [loader(), loader()];
  const times: number[] = [];
  let notVisible = 0;
  try {
    for (let i = 0; i < probes; i++) {
      const res = await httpPost(probeAgent, port, '/v1/events', INGEST_KEY, envelope(`probe${i}@example.com`, 'survey.answered'));
      const acked = performance.now();
      const { customerId: id, position } = JSON.parse(res.body) as { customerId: string; position: number };
      // the API waits server-side until the projector has committed `position`, then answers
      const view = await httpGet(probeAgent, port, `/v1/customers/${id}?minPosition=${position}`, ANALYST_KEY);
      times.push(performance.now() - acked);
      // 503: the read model was not there within the API's read-your-writes wait (5 s), i.e. the
      // projector fell behind the load; a figure (its time is a lower bound), not a broken bench
      if (view.status === 503) notVisible++;
      else if (view.status !== 200 || JSON.parse(view.body).scores.nps?.score !== 8)
        throw new Error(`probe ${i} not visible: ${view.status}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } catch (e) {
    // a failed probe must not leave the API process running after the bench exits
    api.kill('SIGKILL');
    throw e;
  } finally {
    loading = false;
    await Promise.all(loaders).catch(() => undefined);
  }
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  record({
    group: 'ingest-to-visible',
    name: `p50${target.label === 'SQLite' ? '' : ` (projector writing to ${target.label})`} (under ${Math.round(loaded / seconds).toLocaleString('en-US')} events/s of HTTP ingest; API process with the projector inside, projecting all ${READ_MODELS.length} read models: ${READ_MODELS.map((m) => m.name).join(', ')})`,
    value: percentile(times, 50),
    unit: 'ms',
  });
  record({
    group: 'ingest-to-visible',
    name: `p99${target.label === 'SQLite' ? '' : ` (projector writing to ${target.label})`}`,
    value: percentile(times, 99),
    unit: 'ms',
    note: `target < 100; ${times.length} probes, each waited for in the customer 360 (read-your-writes)${
      notVisible > 0
        ? `; ${notVisible} not visible within the API's 5 s wait (503: the projector fell behind), their times a lower bound`
        : ''
    }; load ${loadBefore} -> ${loadAverage()}`,
  });
  loadAgent.destroy();
  probeAgent.destroy();
  api.kill('SIGTERM');
  await new Promise((r) => (api.exitCode !== null ? r(null) : api.once('exit', r)));
}
