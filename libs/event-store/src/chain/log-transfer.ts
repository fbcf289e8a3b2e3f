import type { EventData, EventStore } from '../port';
import { SqliteEventStore } from '../sqlite/sqlite-event-store';
import { ChainVerifier, chainLink, GENESIS_HASH, type ChainHead } from './log-chain';
import { LOG_FILE_FORMAT, LOG_FILE_VERSION, LogFileError, logFileEndLine, logFileLine, readLogFile, type LogFileEvent } from './log-file';

export interface TransferProgress {
  events: number;
  /** events to go through in all, when known */
  total?: number;
  phase: 'export' | 'check' | 'write';
  elapsedMs: number;
}

interface TransferOptions {
  pageSize?: number;
  onProgress?: (p: TransferProgress) => void;
  now?: () => number;
}

/** The log does not verify, so it is not exported (`cem verify-log` says more). */
export class ExportRefusedError extends Error {
  override name = 'ExportRefusedError';
}

/** The target store is not empty, or the file is not a whole, chained log: nothing was written. */
export class ImportRefusedError extends Error {
  override name = 'ImportRefusedError';
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Streams the log, up to the head when the export starts, as a log file (see log-file.ts) through
 * `write`. The embedded store's stored links are checked on the way (a log that does not verify is
 * refused at its first problem); for a store that keeps no chain (EventStoreDB today) the links
 * are computed as the events are read.
 */
export async function exportLog(
  store: EventStore,
  write: (text: string) => Promise<void> | void,
  opts: TransferOptions & { storeName: string; exportedAt: string },
): Promise<{ head: ChainHead; events: number }> {
  const now = opts.now ?? Date.now;
  const started = now();
  const pageSize = opts.pageSize ?? 5000;
  const until = await store.headPosition();
  await write(
    `${JSON.stringify({ format: LOG_FILE_FORMAT, version: LOG_FILE_VERSION, exportedAt: opts.exportedAt, store: opts.storeName })}\n`,
  );
  let events = 0;
  let head: ChainHead = { seq: 0, position: 0, hash: GENESIS_HASH.toString('hex') };
  let after = 0;
  const progress = () => opts.onProgress?.({ events, phase: 'export', elapsedMs: now() - started });

  if (store instanceof SqliteEventStore) {
    const verifier = new ChainVerifier();
    for (;;) {
      const rows = store.readChainRows(after, pageSize).filter((r) => r.position <= until);
      if (rows.length === 0) break;
      if (!verifier.push(rows)) break;
      await write(rows.map((r) => `${logFileLine({ ...r, seq: r.seq! }, r.hash!)}\n`).join(''));
      events += rows.length;
      after = rows[rows.length - 1].position;
      head = { seq: rows[rows.length - 1].seq!, position: after, hash: rows[rows.length - 1].hash! };
      progress();
      await tick();
    }
    const checked = verifier.end();
    if (!checked.ok) throw new ExportRefusedError(`the log does not verify: ${checked.problem.reason} (run cem verify-log)`);
  } else {
    let previous: Buffer = GENESIS_HASH;
    for (;;) {
      const page = (await store.readAll({ after, maxCount: pageSize })).filter((e) => e.position <= until);
      if (page.length === 0) break;
      let text = '';
      for (const e of page) {
        const fields = {
          eventId: e.eventId,
          streamId: e.streamId,
          revision: e.revision,
          type: e.type,
          dataJson: JSON.stringify(e.data ?? null),
          metadataJson: JSON.stringify(e.metadata ?? {}),
          recordedAt: e.recordedAt,
        };
        const seq = head.seq + 1;
        previous = chainLink(previous, seq, fields);
        head = { seq, position: e.position, hash: previous.toString('hex') };
        text += `${logFileLine({ ...fields, seq, position: e.position }, head.hash)}\n`;
      }
      await write(text);
      events += page.length;
      after = page[page.length - 1].position;
      progress();
    }
  }
  await write(`${logFileEndLine(head)}\n`);
  return { head, events };
}

/**
 * Loads a log file into an empty store. The file is read through once first (well formed, chained,
 * not cut, each stream's revisions continuing from 0), so a bad file writes nothing; then written in
 * log order. The embedded store keeps ids, revisions and recorded-at as they were, so its chain
 * comes out identical (checked at the end); EventStoreDB sets recorded-at itself (the import time).
 */
export async function importLog(store: EventStore, path: string, opts: TransferOptions = {}): Promise<{ head: ChainHead; events: number }> {
  const now = opts.now ?? Date.now;
  const started = now();
  const pageSize = opts.pageSize ?? 5000;
  const refuseNonEmpty = async () => {
    const head = await store.headPosition();
    if (head > 0)
      throw new ImportRefusedError(`the event store is not empty (head position ${head}): import-log loads into an empty store only`);
  };
  await refuseNonEmpty();

  // pass 1: check the whole file
  const lastRevision = new Map<string, number>();
  let total = 0;
  const check = readLogFile(path, pageSize);
  let step = await check.next();
  while (!step.done) {
    for (const e of step.value) {
      const last = lastRevision.get(e.streamId) ?? -1;
      if (e.revision !== last + 1)
        throw new LogFileError(e.seq + 1, `event #${e.seq} has revision ${e.revision} of stream "${e.streamId}", expected ${last + 1}`);
      lastRevision.set(e.streamId, e.revision);
    }
    total += step.value.length;
    opts.onProgress?.({ events: total, phase: 'check', elapsedMs: now() - started });
    step = await check.next();
  }
  const fileHead = step.value.head;
  lastRevision.clear();

  // pass 2: write (re-checked, in case another writer started meanwhile)
  await refuseNonEmpty();
  let events = 0;
  for await (const batch of readLogFile(path, pageSize)) {
    if (store instanceof SqliteEventStore) store.importEvents(batch);
    else await appendInOrder(store, batch);
    events += batch.length;
    opts.onProgress?.({ events, total, phase: 'write', elapsedMs: now() - started });
  }
  if (store instanceof SqliteEventStore) {
    const head = store.chainHead();
    if (head.hash !== fileHead.hash)
      throw new Error(`imported, but the store's chain head ${head.hash} differs from the file's ${fileHead.hash}`);
    return { head, events };
  }
  return { head: fileHead, events };
}

/** Appends a run of consecutive events of one stream at a time, with the expected revision the file implies. */
async function appendInOrder(store: EventStore, batch: LogFileEvent[]): Promise<void> {
  let i = 0;
  while (i < batch.length) {
    let j = i + 1;
    while (j < batch.length && batch[j].streamId === batch[i].streamId) j++;
    const run = batch.slice(i, j);
    const events: EventData[] = run.map((e) => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: e.metadata }));
    await store.appendToStream(run[0].streamId, events, { expectedRevision: run[0].revision === 0 ? 'no_stream' : run[0].revision - 1 });
    i = j;
  }
}
