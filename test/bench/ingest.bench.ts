import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { contentHash, SqliteEventStore, type EventData, type StreamWrite } from '@cem/event-store';
import { encodeEventId } from '@cem/event-store/sqlite/sqlite-event-store';
import { measurePaired, progress, record, spread } from './report';

export interface IngestBenchOptions {
  events: number;
  batchSize: number;
  eventsPerCustomer: number;
}

/** Realistic envelopes: a mix of contact, purchase, survey and case events over many customers. */
export function makeEnvelopes(n: number, eventsPerCustomer: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / eventsPerCustomer);
    const occurredAt = new Date(base + i * 1000).toISOString();
    const identifiers = [
      { kind: 'email', value: `customer${c}@example.com` },
      ...(i % 3 === 0 ? [{ kind: 'crm', value: `CRM-${c}` }] : []),
    ];
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

/** The full path: HTTP batches to the real API process (validation, identity, durable append). */
async function httpIngest(
  dir: string,
  envelopes: Record<string, unknown>[],
  batchSize: number,
  projector: 'embedded' | 'external',
): Promise<number> {
  const port = 3900 + Math.floor(Math.random() * 90);
  const key = `bench-ingest-key-${randomUUID()}`;
  const api = spawn(process.execPath, [resolve(__dirname, '../../apps/api/src/main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      PROJECTOR: projector,
      DATA_DIR: join(dir, `api-${projector}`),
      API_KEYS: `ingest:${key}`,
      LOG_LEVEL: 'warn',
      INGEST_MAX_BODY_BYTES: String(4 * 1024 * 1024),
      SQLITE_SYNCHRONOUS: 'FULL',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (
        await fetch(`${url}/health/live`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 200) throw new Error('API did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const bodies = chunks(envelopes, batchSize).map((events) => JSON.stringify({ events }));
    const t0 = performance.now();
    let done = 0;
    let next = 0;
    // two requests in flight: the server always has the next batch while the client reads a reply
    const worker = async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const res = await fetch(`${url}/v1/events:batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body,
        });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
        await res.arrayBuffer();
        done += batchSize;
        progress(`http ingest (projector ${projector})`, Math.min(done, envelopes.length), envelopes.length, t0);
      }
    };
    await Promise.all([worker(), worker()]);
    return envelopes.length / ((performance.now() - t0) / 1000);
  } finally {
    api.kill('SIGTERM');
  }
}

export async function benchIngest(options: IngestBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cem-bench-ingest-'));
  try {
    console.log(
      `\n# ingest: ${options.events.toLocaleString('en-US')} events, batches of ${options.batchSize}, ${options.eventsPerCustomer} events per customer`,
    );
    const envelopes = makeEnvelopes(options.events, options.eventsPerCustomer);
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
    const http = await httpIngest(dir, envelopes, options.batchSize, 'external');
    record({
      group: 'ingest',
      name: 'HTTP batches, validated + identity-resolved + durably appended (projector in its own process)',
      value: http,
      unit: 'events/s',
      note: `target >= 30,000; ${(raw / http).toFixed(2)}x slower than raw (target <= 3x)`,
    });
    const embedded = await httpIngest(dir, envelopes, options.batchSize, 'embedded');
    record({
      group: 'ingest',
      name: 'same, with the projector in the API process (embedded default)',
      value: embedded,
      unit: 'events/s',
      note: `${(raw / embedded).toFixed(2)}x slower than raw`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
