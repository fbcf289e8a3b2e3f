import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { contentHash } from '../content-hash';
import { prepareOwnerOnlySqliteFile } from './owner-only';
import { EventIdConflictError, StreamNotFoundError, WrongExpectedRevisionError } from '../errors';
import type {
  AppendResult,
  EventData,
  EventStore,
  ExpectedRevision,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamWrite,
  SubscribeOptions,
  Subscription,
  SubscriptionMessage,
} from '../port';
import { startBackgroundCheckpointer, type BackgroundCheckpointer } from './background-checkpointer';
import { migrateEventStore } from './schema';
import { decodeEventId, encodeEventId } from './event-id';
import { chainLink, GENESIS_HASH, type ChainHead, type ChainedRow } from '../chain/log-chain';

/** An event as another store recorded it, loaded as is by `importEvents` (see chain/log-transfer.ts). */
export interface ImportedEvent {
  eventId: string;
  streamId: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  recordedAt: string;
}

interface ChainTip {
  seq: number;
  hash: Buffer;
}

export interface SqliteEventStoreOptions {
  /** `FULL` (default) fsyncs every commit; `NORMAL` survives a process kill but not a power cut */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * How often an idle live subscription looks for events written by another process on the same
   * file (in-process appends wake it at once).
   */
  livePollMs?: number;
}

interface EventRow {
  position: number;
  event_id: Buffer | string;
  stream_id: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  recorded_at: string;
  content_hash?: string;
}

export { decodeEventId, encodeEventId };

const toRecorded = (r: EventRow): RecordedEvent => ({
  eventId: decodeEventId(r.event_id),
  type: r.type,
  streamId: r.stream_id,
  revision: r.revision,
  position: r.position,
  data: JSON.parse(r.data),
  metadata: JSON.parse(r.metadata),
  recordedAt: r.recorded_at,
});

const COLUMNS = 'e.position, e.event_id, s.stream_id, e.revision, e.type, e.data, e.metadata, e.recorded_at';
const FROM = 'event_log e JOIN streams s ON s.stream_no = e.stream_no';

/**
 * Embedded event store: one SQLite file in WAL mode. Appends are synchronous transactions, so one
 * process never interleaves two of them; `BEGIN IMMEDIATE` serialises writers of other processes.
 */
export class SqliteEventStore implements EventStore {
  readonly capabilities = { atomicMultiStreamAppend: true, freshReads: true };
  readonly db: Database.Database;
  private readonly appended = new EventEmitter();
  private readonly livePollMs: number;
  private closed = false;
  private readonly checkpointer?: BackgroundCheckpointer;
  private readonly stmt;
  /** the chain's last link, read once at the start of each append transaction (another process may have appended) */
  private tip: ChainTip = { seq: 0, hash: GENESIS_HASH };

  constructor(filename: string, options: SqliteEventStoreOptions = {}) {
    prepareOwnerOnlySqliteFile(filename);
    this.db = new Database(filename);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 10000');
    // checkpoints run on a background thread (see background-checkpointer); 10,000 pages is the fallback
    this.db.pragma('wal_autocheckpoint = 10000');
    this.checkpointer = filename === ':memory:' ? undefined : startBackgroundCheckpointer(filename);
    this.appended.setMaxListeners(0);
    this.livePollMs = options.livePollMs ?? 50;
    migrateEventStore(this.db);
    this.stmt = {
      byEventId: this.db.prepare<[Buffer | string], EventRow>(`SELECT ${COLUMNS}, e.content_hash FROM ${FROM} WHERE e.event_id = ?`),
      stream: this.db.prepare<[string], { stream_no: number; revision: number }>(
        'SELECT stream_no, revision FROM streams WHERE stream_id = ?',
      ),
      newStream: this.db.prepare('INSERT INTO streams (stream_id, revision) VALUES (?, -1)'),
      setRevision: this.db.prepare('UPDATE streams SET revision = ? WHERE stream_no = ?'),
      dropEmptyStream: this.db.prepare('DELETE FROM streams WHERE stream_no = ? AND revision < 0'),
      insert: this.db.prepare(
        'INSERT INTO event_log (event_id, stream_no, revision, type, data, metadata, content_hash, recorded_at, chain_seq, chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      // the last event that carries a link (one written around the store has none: verify-log reports it)
      chainTip: this.db.prepare<[], { seq: number; hash: Buffer; position: number }>(
        'SELECT chain_seq AS seq, chain_hash AS hash, position FROM event_log WHERE chain_seq IS NOT NULL ORDER BY position DESC LIMIT 1',
      ),
      chainRows: this.db.prepare<[number, number], EventRow & { chain_seq: number | null; chain_hash: Buffer | null }>(
        `SELECT ${COLUMNS}, e.chain_seq, e.chain_hash FROM ${FROM} WHERE e.position > ? ORDER BY e.position ASC LIMIT ?`,
      ),
      readForwards: this.db.prepare<[number, number, number], EventRow>(
        `SELECT ${COLUMNS} FROM ${FROM} WHERE e.stream_no = ? AND e.revision >= ? ORDER BY e.revision ASC LIMIT ?`,
      ),
      readBackwards: this.db.prepare<[number, number, number], EventRow>(
        `SELECT ${COLUMNS} FROM ${FROM} WHERE e.stream_no = ? AND e.revision <= ? ORDER BY e.revision DESC LIMIT ?`,
      ),
      readAll: this.db.prepare<[number, number], EventRow>(
        `SELECT ${COLUMNS} FROM ${FROM} WHERE e.position > ? ORDER BY e.position ASC LIMIT ?`,
      ),
      head: this.db.prepare<[], { head: number | null }>('SELECT max(position) AS head FROM event_log'),
    };
  }

  async appendToStream(
    streamId: string,
    events: EventData[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    return this.appendManySync([{ streamId, events, expectedRevision: options.expectedRevision }])[0];
  }

  async appendMany(writes: StreamWrite[]): Promise<AppendResult[]> {
    return this.appendManySync(writes);
  }

  /** The synchronous core: every write of the call in one IMMEDIATE transaction, all or nothing. */
  appendManySync(writes: StreamWrite[]): AppendResult[] {
    const results = this.db
      .transaction((ws: StreamWrite[]) => {
        this.readChainTip();
        return ws.map((w) => this.appendOne(w));
      })
      .immediate(writes);
    if (results.some((r) => r.events.some((e) => !e.duplicate))) this.appended.emit('appended');
    return results;
  }

  private appendOne({ streamId, events, expectedRevision = 'any' }: StreamWrite): AppendResult {
    const row = this.stmt.stream.get(streamId);
    let revision = row ? row.revision : -1;
    let streamNo = row?.stream_no;
    const out: AppendResult['events'] = new Array(events.length);
    const hashes = events.map(contentHash);
    if (!expectedMatches(expectedRevision, revision)) {
      // A stale expectation is fine only for a retry of events that are all stored already, with the
      // same content. Anything else is a concurrency conflict, not a content conflict: two writers
      // deriving the same event id (a registration) from different inputs must re-read and decide
      // again, and a real content conflict shows up on that retry, when the expectation holds.
      const stored = events.map((e) => this.stmt.byEventId.get(encodeEventId(e.eventId)));
      if (events.length === 0 || stored.some((e, i) => !e || e.content_hash !== hashes[i])) {
        throw new WrongExpectedRevisionError(streamId, expectedRevision, revision);
      }
      return {
        streamId,
        nextExpectedRevision: revision,
        events: stored.map((e) => ({ eventId: decodeEventId(e!.event_id), revision: e!.revision, position: e!.position, duplicate: true })),
      };
    }
    // Optimistic: insert, and let the UNIQUE(event_id) index find repeats (a rare path) instead of
    // looking every event up first. A failed statement leaves the rest of the transaction intact.
    const firstInCall = new Map<string, number>();
    const recordedAt = new Date().toISOString();
    let wrote = false;
    events.forEach((event, index) => {
      const first = firstInCall.get(event.eventId);
      if (first !== undefined) {
        if (hashes[first] !== hashes[index]) throw new EventIdConflictError(event.eventId, streamId);
        out[index] = { ...out[first], duplicate: true };
        return;
      }
      firstInCall.set(event.eventId, index);
      streamNo ??= Number(this.stmt.newStream.run(streamId).lastInsertRowid);
      const storedId = encodeEventId(event.eventId);
      const dataJson = JSON.stringify(event.data ?? null);
      const metadataJson = JSON.stringify(event.metadata ?? {});
      const seq = this.tip.seq + 1;
      const link = chainLink(this.tip.hash, seq, {
        eventId: event.eventId,
        streamId,
        revision: revision + 1,
        type: event.type,
        dataJson,
        metadataJson,
        recordedAt,
      });
      try {
        const info = this.stmt.insert.run(
          storedId,
          streamNo,
          revision + 1,
          event.type,
          dataJson,
          metadataJson,
          hashes[index],
          recordedAt,
          seq,
          link,
        );
        this.tip = { seq, hash: link };
        revision++;
        wrote = true;
        out[index] = { eventId: event.eventId, revision, position: Number(info.lastInsertRowid), duplicate: false };
      } catch (e) {
        if (!isUniqueViolation(e, 'event_log.event_id')) throw e;
        const existing = this.stmt.byEventId.get(storedId)!;
        if (existing.content_hash !== hashes[index]) throw new EventIdConflictError(event.eventId, existing.stream_id);
        out[index] = { eventId: event.eventId, revision: existing.revision, position: existing.position, duplicate: true };
      }
    });
    if (wrote) this.stmt.setRevision.run(revision, streamNo);
    else if (!row && streamNo !== undefined) this.stmt.dropEmptyStream.run(streamNo); // only repeats: no new stream
    return { streamId, nextExpectedRevision: revision, events: out };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const row = this.stmt.stream.get(streamId);
    if (!row || row.revision < 0) throw new StreamNotFoundError(streamId);
    const max = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const rows =
      options.direction === 'backwards'
        ? this.stmt.readBackwards.all(row.stream_no, options.fromRevision ?? row.revision, max)
        : this.stmt.readForwards.all(row.stream_no, options.fromRevision ?? 0, max);
    return rows.map(toRecorded);
  }

  async streamRevisions(streamIds: string[]): Promise<Map<string, number>> {
    return this.streamRevisionsSync(streamIds);
  }

  streamRevisionsSync(streamIds: string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const id of streamIds) out.set(id, this.stmt.stream.get(id)?.revision ?? -1);
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return this.readAllSync(options);
  }

  readAllSync(options: ReadAllOptions = {}): RecordedEvent[] {
    return this.stmt.readAll.all(options.after ?? 0, options.maxCount ?? Number.MAX_SAFE_INTEGER).map(toRecorded);
  }

  async headPosition(): Promise<number> {
    return this.stmt.head.get()?.head ?? 0;
  }

  private readChainTip(): void {
    const row = this.stmt.chainTip.get();
    this.tip = row ? { seq: row.seq, hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  /** The chain's head: the link of the last chained event (`cem log head`). */
  chainHead(): ChainHead {
    const row = this.stmt.chainTip.get();
    return row
      ? { seq: row.seq, position: row.position, hash: row.hash.toString('hex') }
      : { seq: 0, position: 0, hash: GENESIS_HASH.toString('hex') };
  }

  /** Events after `after` in log order with their stored bytes and links, for verify-log and export-log. */
  readChainRows(after: number, maxCount: number): ChainedRow[] {
    return this.stmt.chainRows.all(after, maxCount).map((r) => ({
      position: r.position,
      eventId: decodeEventId(r.event_id),
      streamId: r.stream_id,
      revision: r.revision,
      type: r.type,
      dataJson: r.data,
      metadataJson: r.metadata,
      recordedAt: r.recorded_at,
      seq: r.chain_seq,
      hash: r.chain_hash ? r.chain_hash.toString('hex') : null,
    }));
  }

  /**
   * Loads events recorded by another store (import-log) as they were: same ids, streams, revisions
   * and recorded-at, chained the same way, all in one transaction. Each event must continue its
   * stream (revision = the stream's last + 1), so a file out of order is refused, not reordered.
   */
  importEvents(events: ImportedEvent[]): ChainHead {
    const head = this.db
      .transaction(() => {
        this.readChainTip();
        let position = 0;
        for (const e of events) {
          const row = this.stmt.stream.get(e.streamId);
          const current = row ? row.revision : -1;
          if (e.revision !== current + 1)
            throw new Error(
              `event ${e.eventId}: revision ${e.revision} of stream ${e.streamId} does not follow its last revision ${current}`,
            );
          const streamNo = row?.stream_no ?? Number(this.stmt.newStream.run(e.streamId).lastInsertRowid);
          const dataJson = JSON.stringify(e.data ?? null);
          const metadataJson = JSON.stringify(e.metadata ?? {});
          const seq = this.tip.seq + 1;
          const link = chainLink(this.tip.hash, seq, { ...e, dataJson, metadataJson });
          const info = this.stmt.insert.run(
            encodeEventId(e.eventId),
            streamNo,
            e.revision,
            e.type,
            dataJson,
            metadataJson,
            contentHash(e),
            e.recordedAt,
            seq,
            link,
          );
          this.stmt.setRevision.run(e.revision, streamNo);
          this.tip = { seq, hash: link };
          position = Number(info.lastInsertRowid);
        }
        return { seq: this.tip.seq, position, hash: this.tip.hash.toString('hex') };
      })
      .immediate();
    if (events.length > 0) this.appended.emit('appended');
    return head;
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    const batchSize = options.batchSize ?? 1000;
    let after = options.after ?? 0;
    let stopped = false;
    let wake: (() => void) | undefined;
    const onAppended = () => wake?.();
    this.appended.on('appended', onAppended);

    async function* messages(store: SqliteEventStore): AsyncGenerator<SubscriptionMessage> {
      let live = false;
      try {
        while (!stopped && !store.closed) {
          const batch = store.readAllSync({ after, maxCount: batchSize });
          if (batch.length > 0) {
            after = batch[batch.length - 1].position;
            yield { type: 'events', events: batch };
            // reading is synchronous: without a turn of the event loop between pages, a catch-up of
            // a long log (a projector after a restart) ran in microtasks only, and the process
            // answered no HTTP request, timer or socket until it reached the head. Only after a full
            // page: a short one means the head is reached, and the caught-up signal follows at once
            if (batch.length === batchSize) await yieldToEventLoop();
            continue;
          }
          if (!live) {
            live = true;
            yield { type: 'caught-up', position: after };
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, store.livePollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
      } finally {
        store.appended.off('appended', onAppended);
      }
    }
    const iterator = messages(this);
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        stopped = true;
        wake?.();
        await iterator.return(undefined);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.appended.emit('appended');
    await this.checkpointer?.stop();
    this.db.close();
  }
}

function expectedMatches(expected: ExpectedRevision, actual: number): boolean {
  return (
    expected === 'any' ||
    (expected === 'no_stream' && actual === -1) ||
    (expected === 'stream_exists' && actual >= 0) ||
    (typeof expected === 'number' && expected === actual)
  );
}

function isUniqueViolation(e: unknown, column: string): boolean {
  return (e as { code?: string })?.code === 'SQLITE_CONSTRAINT_UNIQUE' && String((e as Error).message).includes(column);
}
