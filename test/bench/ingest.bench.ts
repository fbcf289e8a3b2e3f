import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { getPriority, setPriority, tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { contentHash, SqliteEventStore, type EventData, type StreamWrite } from '@cem/event-store';
import { encodeEventId } from '@cem/event-store/sqlite/sqlite-event-store';
import { READ_MODELS } from '@cem/read-models';
import { loadAverage, measurePaired, median, processCpuMicros, record, spread } from './report';

export interface IngestBenchOptions {
  events: number;
  batchSize: number;
  eventsPerCustomer: number;
}

/**
 * Customer c's email: `customer.<8 hex digits>@example.com`, the digits a bijection of c (so unique),
 * in no order. Real emails arrive in no order; `customer<c>@...` in order made every index keyed by
 * them (the registry's plaintext one) gain rows at its end only, which flattered the plaintext path
 * against the blind index, whose keys (HMACs) land anywhere. CRM ids stay in order: CRMs number
 * records as they create them.
 */
export const emailOf = (c: number): string => `customer.${(Math.imul(c + 1, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0')}@example.com`;

/** Realistic envelopes: a mix of contact, purchase, survey and case events over many customers. */
export function makeEnvelopes(n: number, eventsPerCustomer: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / eventsPerCustomer);
    const occurredAt = new Date(base + i * 1000).toISOString();
    const identifiers = [{ kind: 'email', value: emailOf(c) }, ...(i % 3 === 0 ? [{ kind: 'crm', value: `CRM-${c}` }] : [])];
    const common = { eventId: randomUUID(), occurredAt, source: 'bench', customer: { identifiers } };
    switch (i % 4) {
      case 0:
        out.push({
          ...common,
          type: 'contact.handled',
          channel: 'phone',
          agentId: `agent-${i % 50}`,
          data: { direction: 'inbound', reason: 'billing', waitSeconds: 40, handleSeconds: 300, resolved: i % 5 !== 0 },
        });
        break;
      case 1:
        out.push({
          ...common,
          type: 'purchase.completed',
          channel: 'web',
          data: { orderId: `o-${i}`, amount: 49.95, currency: 'EUR', items: 2 },
        });
        break;
      case 2:
        out.push({ ...common, type: 'survey.answered', channel: 'email', data: { nps: i % 11, csat: 1 + (i % 5), comment: 'fine' } });
        break;
      default:
        out.push({
          ...common,
          type: 'case.opened',
          channel: 'chat',
          correlationId: `case-${i}`,
          data: { caseId: `case-${i}`, category: 'delivery', priority: 'normal' },
        });
    }
  }
  return out;
}

/** The rows our store would write for these envelopes (after identity resolution), for the raw baselines. */
export function storedEvents(envelopes: Record<string, any>[]): { streamId: string; event: EventData }[] {
  return envelopes.map((e) => {
    const customer = (e.customer.identifiers[0].value as string).replace(/@.*/, '');
    return {
      streamId: `customer-${customer}`,
      event: {
        eventId: e.eventId,
        type: e.type,
        data: e.data,
        metadata: {
          schemaVersion: 1,
          occurredAt: e.occurredAt,
          customerId: customer,
          source: e.source,
          channel: e.channel,
          identifiers: e.customer.identifiers,
        },
      },
    };
  });
}

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * better-sqlite3 inserting the very rows our adapter writes (same tables, keys and pragmas: blob event
 * ids, numbered streams, content hash) with nothing else around it: the floor our append path sits on.
 */
function rawSqlite(file: string, items: { streamId: string; event: EventData }[], batchSize: number): number {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE streams (stream_no INTEGER PRIMARY KEY, stream_id TEXT NOT NULL UNIQUE, revision INTEGER NOT NULL);
           CREATE TABLE event_log (position INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE, stream_no INTEGER NOT NULL, revision INTEGER NOT NULL,
           type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, content_hash TEXT NOT NULL, recorded_at TEXT NOT NULL, UNIQUE (stream_no, revision))`);
  const insert = db.prepare(
    'INSERT INTO event_log (event_id, stream_no, revision, type, data, metadata, content_hash, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const newStream = db.prepare('INSERT INTO streams (stream_id, revision) VALUES (?, ?)');
  const setRevision = db.prepare('UPDATE streams SET revision = ? WHERE stream_no = ?');
  const streams = new Map<string, { no: number; revision: number }>();
  const t0 = performance.now();
  for (const batch of chunks(items, batchSize)) {
    const recordedAt = new Date().toISOString();
    db.transaction(() => {
      const touched = new Set<{ no: number; revision: number }>();
      for (const { streamId, event } of batch) {
        let s = streams.get(streamId);
        if (!s) streams.set(streamId, (s = { no: Number(newStream.run(streamId, -1).lastInsertRowid), revision: -1 }));
        s.revision++;
        touched.add(s);
        insert.run(
          encodeEventId(event.eventId),
          s.no,
          s.revision,
          event.type,
          JSON.stringify(event.data),
          JSON.stringify(event.metadata),
          contentHash(event),
          recordedAt,
        );
      }
      for (const s of touched) setRevision.run(s.revision, s.no);
    })();
  }
  const secs = (performance.now() - t0) / 1000;
  db.close();
  return items.length / secs;
}

/** Our embedded adapter through the port: idempotency check, expected revisions, stream heads. */
async function ourStore(file: string, items: { streamId: string; event: EventData }[], batchSize: number): Promise<number> {
  const store = new SqliteEventStore(file, { synchronous: 'FULL' });
  const t0 = performance.now();
  for (const batch of chunks(items, batchSize)) {
    const writes = new Map<string, StreamWrite>();
    for (const { streamId, event } of batch) {
      const w = writes.get(streamId) ?? { streamId, events: [], expectedRevision: 'any' as const };
      w.events.push(event);
      writes.set(streamId, w);
    }
    await store.appendMany([...writes.values()]);
  }
  const secs = (performance.now() - t0) / 1000;
  await store.close();
  return items.length / secs;
}

/**
 * The peer library is not a dependency (it compiles a second native SQLite module, minutes on a
 * fresh machine): `npm run bench:peer` installs it (without saving) before the bench; without it
 * the comparison is skipped with the reason.
 */
export const PEER_MODULE = '@event-driven-io/emmett-sqlite';
export const PEER_INSTALL = 'npm install --no-save @event-driven-io/emmett@0.38.5 @event-driven-io/emmett-sqlite@0.38.5';

export function peerInstalled(): boolean {
  try {
    require.resolve(PEER_MODULE);
    return true;
  } catch {
    return false;
  }
}

/** The part of emmett-sqlite 0.38's API the bench uses (typed here: the package is installed on demand). */
interface EmmettSqlite {
  getSQLiteEventStore(options: { fileName: string; schema: { autoMigration: 'CreateOrUpdate' } }): {
    appendToStream(
      streamId: string,
      events: { type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[],
    ): Promise<unknown>;
  };
}

/** The peer: Emmett's SQLite event store, appending the same events stream by stream. */
async function emmettStore(
  dir: string,
  items: { streamId: string; event: EventData }[],
  batchSize: number,
): Promise<{ rate: number; busyRetries: number }> {
  const { getSQLiteEventStore } = (await import(PEER_MODULE)) as EmmettSqlite;
  const store = getSQLiteEventStore({ fileName: join(dir, 'emmett.db'), schema: { autoMigration: 'CreateOrUpdate' } });
  let busyRetries = 0;
  // emmett-sqlite 0.38 sometimes reports SQLITE_BUSY ("SQL statements in progress") on commit under
  // back-to-back appends; the append did not happen, so retrying it is what a user would do
  const append = async (streamId: string, events: Parameters<typeof store.appendToStream>[1]) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await store.appendToStream(streamId, events);
      } catch (e) {
        if (attempt >= 20 || !String((e as Error).message).includes('SQLITE_BUSY')) throw e;
        busyRetries++;
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  };
  const t0 = performance.now();
  for (const batch of chunks(items, batchSize)) {
    const byStream = new Map<string, EventData[]>();
    for (const { streamId, event } of batch) byStream.set(streamId, [...(byStream.get(streamId) ?? []), event]);
    for (const [streamId, events] of byStream) {
      await append(
        streamId,
        events.map((e) => ({
          type: e.type,
          data: e.data as Record<string, unknown>,
          metadata: { ...(e.metadata as object), messageId: e.eventId },
        })),
      );
    }
  }
  return { rate: items.length / ((performance.now() - t0) / 1000), busyRetries };
}

/** a TCP port nobody listens on right now (the OS picks it) */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

export interface HttpRound {
  /** events acknowledged (with `untilProjected`: acknowledged and projected) per second of wall clock */
  rate: number;
  /** the API process's CPU time (user + system) per event over the load, when /proc tells it */
  serverCpuUs?: number;
}

/** What a caller other than the ingest section changes in a round of httpIngest. */
export interface HttpRoundOptions {
  /** more settings of the API process (e.g. the privacy secrets) */
  env?: Record<string, string>;
  /** the load client's progress label */
  label?: string;
  /**
   * the round ends when the embedded projector has caught up with the log (GET /health/ready), not
   * at the last acknowledgement: the rate and the API's CPU then include projecting every event
   */
  untilProjected?: boolean;
}

/**
 * The full path: HTTP batches to the real API process (validation, identity, durable append). The
 * load client runs in a process of its own at a lower priority (nice +10): it and the server never
 * share an event loop, and on a busy machine the server is the one that gets the CPU. Measured: the
 * client's wall-clock rate, and the server process's own CPU time per event.
 */
export async function httpIngest(
  dir: string,
  options: IngestBenchOptions,
  projector: 'embedded' | 'external',
  round: number,
  more: HttpRoundOptions = {},
): Promise<HttpRound> {
  const port = await freePort();
  const key = `bench-ingest-key-${randomUUID()}`;
  const api = spawn(process.execPath, [resolve(__dirname, '../../apps/api/src/main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      PROJECTOR: projector,
      DATA_DIR: join(dir, `api-${projector}-${round}`),
      API_KEYS: `ingest:${key}`,
      LOG_LEVEL: 'error',
      INGEST_MAX_BODY_BYTES: String(4 * 1024 * 1024),
      SQLITE_SYNCHRONOUS: 'FULL',
      ...more.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    // a loaded machine can take a while to boot Nest: wait up to two minutes, but not for a process that died
    for (let i = 0; ; i++) {
      if (api.exitCode !== null) throw new Error(`the API process exited with ${api.exitCode} before answering`);
      if (
        await fetch(`${url}/health/live`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 1200) throw new Error('API did not start within 2 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const ts = __filename.endsWith('.ts');
    const client = spawn(
      process.execPath,
      [
        ...(ts ? ['-r', '@swc-node/register'] : []),
        join(__dirname, `http-load-client.${ts ? 'ts' : 'js'}`),
        url,
        key,
        String(options.events),
        String(options.batchSize),
        String(options.eventsPerCustomer),
      ],
      {
        env: { ...process.env, BENCH_CLIENT_LABEL: more.label ?? `http ingest (projector ${projector}, round ${round + 1})` },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      if (client.pid !== undefined) setPriority(client.pid, Math.min(19, getPriority(process.pid) + 10));
    } catch {
      // not allowed here: the client still runs in its own process
    }
    let out = '';
    client.stdout.on('data', (d) => (out += d));
    // the server's CPU is counted from the client's start: the client generates its envelopes first (server idle)
    const cpuBefore = processCpuMicros(api.pid);
    const result = await new Promise<{ events: number; seconds: number }>((resolveResult, reject) => {
      client.on('error', reject);
      client.on('exit', (code) =>
        code === 0 ? resolveResult(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`HTTP load client exited with ${code}`)),
      );
    });
    const caughtUpAfter = more.untilProjected ? await waitUntilProjected(url) : 0;
    const cpuAfter = processCpuMicros(api.pid);
    return {
      rate: result.events / (result.seconds + caughtUpAfter),
      serverCpuUs: cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) / result.events : undefined,
    };
  } finally {
    api.kill('SIGTERM');
    await new Promise((r) => (api.exitCode !== null ? r(null) : api.once('exit', r)));
  }
}

/** Polls GET /health/ready until the projections' checkpoint reaches the log's head; answers the seconds waited. */
async function waitUntilProjected(url: string): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const ready = (await fetch(`${url}/health/ready`).then((r) => r.json())) as {
      eventStore: { headPosition: number };
      projections: { checkpoint: number };
    };
    if (ready.projections.checkpoint >= ready.eventStore.headPosition) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > 30 * 60_000) throw new Error('the projector did not catch up within 30 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function benchIngest(options: IngestBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-ingest-'));
  try {
    console.log(
      `\n# ingest: ${options.events.toLocaleString('en-US')} events, batches of ${options.batchSize}, ${options.eventsPerCustomer} events per customer`,
    );
    const envelopes = makeEnvelopes(options.events, options.eventsPerCustomer);
    const http: HttpRound[] = [];
    const embedded: HttpRound[] = [];
    const items = storedEvents(envelopes);
    // three rounds, alternating which runs first, each into fresh files: medians, their spread, and the
    // median of the rounds' own ratios
    const pair = await measurePaired(
      3,
      (round) => rawSqlite(join(dir, `raw-${round}.db`), items, options.batchSize),
      (round) => ourStore(join(dir, `ours-${round}.db`), items, options.batchSize),
    );
    const raw = pair.a;
    const ours = pair.b;
    record({
      group: 'ingest',
      name: 'raw better-sqlite3 insert of the same rows',
      value: raw,
      unit: 'events/s',
      note: `baseline; median, ${spread(pair.aRuns)}`,
    });
    record({
      group: 'ingest',
      name: 'our SQLite event store (port appendMany)',
      value: ours,
      unit: 'events/s',
      note: `${pair.ratio.toFixed(2)}x slower than raw (median of 3 alternating rounds); ${spread(pair.bRuns)}`,
    });
    let peer: { rate: number; busyRetries: number } | undefined;
    if (!peerInstalled()) {
      console.log(
        `  peer comparison skipped: ${PEER_MODULE} is not installed (not a dependency); run \`npm run bench:peer\`, or ${PEER_INSTALL}`,
      );
    } else {
      peer = await emmettStore(dir, items, options.batchSize).catch((e) => {
        console.log(`  emmett-sqlite could not run: ${(e as Error).message}`);
        return undefined;
      });
    }
    if (peer) {
      const retries = peer.busyRetries > 0 ? `; ${peer.busyRetries} SQLITE_BUSY retries` : '';
      record({
        group: 'ingest',
        name: 'peer: @event-driven-io/emmett-sqlite appendToStream',
        value: peer.rate,
        unit: 'events/s',
        note: `ours is ${(ours / peer.rate).toFixed(1)}x faster${retries}`,
      });
    }
    // the two HTTP modes measured like the pair above: three rounds, alternating which goes first, each
    // into a fresh data directory with a fresh API process
    const loadBefore = loadAverage();
    const modes = await measurePaired(
      3,
      async (round) => (http.push(await httpIngest(dir, options, 'external', round)), http.at(-1)!.rate),
      async (round) => (embedded.push(await httpIngest(dir, options, 'embedded', round)), embedded.at(-1)!.rate),
    );
    const load = `load ${loadBefore} -> ${loadAverage()}`;
    const cpu = (rounds: HttpRound[]) => {
      const us = rounds.map((r) => r.serverCpuUs).filter((x): x is number => x !== undefined);
      return us.length > 0 ? `; API process ${median(us).toFixed(1)} us CPU/event (${us.map((x) => x.toFixed(1)).join(', ')})` : '';
    };
    record({
      group: 'ingest',
      name: 'HTTP batches, validated + identity-resolved + durably appended (projector in its own process)',
      value: modes.a,
      unit: 'events/s',
      note: `target >= 30,000; median of 3 alternating rounds, ${spread(modes.aRuns)}${cpu(http)}; ${(raw / modes.a).toFixed(2)}x slower than raw (target <= 3x); load client in its own process at nice +10; ${load}`,
    });
    record({
      group: 'ingest',
      name: `same, with the projector in the API process (embedded default: ${READ_MODELS.length} read models)`,
      value: modes.b,
      unit: 'events/s',
      note: `target >= 20,000; median of 3, ${spread(modes.bRuns)}${cpu(embedded)}; ${(raw / modes.b).toFixed(2)}x slower than raw; acknowledged appends (the projector may still be behind)`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
