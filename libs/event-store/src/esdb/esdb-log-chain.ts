import { randomUUID } from 'node:crypto';
import { StreamNotFoundError, WrongExpectedRevisionError } from '../errors';
import type { EventStore, RecordedEvent } from '../port';
import { ChainVerifier, chainLink, GENESIS_HASH, type ChainedRow, type ChainHead } from '../chain/log-chain';
import type { AnchoredHead, VerifyLogResult } from '../chain/verify-log';
import { INTERNAL_STREAM_PREFIX } from './naming';

/**
 * The hash chain on EventStoreDB. The server gives no transaction spanning an API process's append
 * and a chain stream, and several API processes append at once, so the writers do not chain: a
 * sealer (`cem log seal`) follows the global log after the last sealed event, computes the same
 * links as the embedded store (log-chain.ts) and appends them, page by page, to the internal stream
 * `cem-internal-chain` with the stream's expected revision. Two sealers racing cannot fork it: the
 * second append fails on its revision and that sealer stops. The chain covers what was sealed; events
 * after the last seal are reported as not sealed yet, not as a problem.
 */
export const CHAIN_STREAM = `${INTERNAL_STREAM_PREFIX}chain`;
const SEALED = 'log-chain.sealed';

/** One page of links: link `fromSeq + i` belongs to event `links[i][0]` and is `links[i][1]`. */
interface SealedPage {
  fromSeq: number;
  toSeq: number;
  lastPosition: number;
  links: [eventId: string, hash: string][];
}

const fieldsOf = (e: RecordedEvent) => ({
  eventId: e.eventId,
  streamId: e.streamId,
  revision: e.revision,
  type: e.type,
  dataJson: JSON.stringify(e.data ?? null),
  metadataJson: JSON.stringify(e.metadata ?? {}),
  recordedAt: e.recordedAt,
});

async function lastSealed(store: EventStore): Promise<{ page?: SealedPage; revision: number }> {
  try {
    const [last] = await store.readStream(CHAIN_STREAM, { direction: 'backwards', maxCount: 1 });
    return last ? { page: last.data as SealedPage, revision: last.revision } : { revision: -1 };
  } catch (e) {
    if (e instanceof StreamNotFoundError) return { revision: -1 };
    throw e;
  }
}

/** The head of the sealed chain (`cem log head` on EventStoreDB). */
export async function sealedHead(store: EventStore): Promise<ChainHead> {
  const { page } = await lastSealed(store);
  if (!page) return { seq: 0, position: 0, hash: GENESIS_HASH.toString('hex') };
  return { seq: page.toSeq, position: page.lastPosition, hash: page.links[page.links.length - 1][1] };
}

export class ChainSealConflictError extends Error {
  override name = 'ChainSealConflictError';
}

/** Seals the events after the last sealed one; returns how many and the new head. */
export async function sealLog(
  store: EventStore,
  opts: { pageSize?: number; onProgress?: (sealed: number) => void } = {},
): Promise<{ sealed: number; head: ChainHead }> {
  const pageSize = opts.pageSize ?? 1000;
  let { page: last, revision } = await lastSealed(store);
  let previous = last ? Buffer.from(last.links[last.links.length - 1][1], 'hex') : GENESIS_HASH;
  let seq = last?.toSeq ?? 0;
  let after = last?.lastPosition ?? 0;
  let sealed = 0;
  for (;;) {
    const events = await store.readAll({ after, maxCount: pageSize });
    if (events.length === 0) break;
    const page: SealedPage = { fromSeq: seq + 1, toSeq: seq + events.length, lastPosition: events[events.length - 1].position, links: [] };
    for (const e of events) {
      previous = chainLink(previous, ++seq, fieldsOf(e));
      page.links.push([e.eventId, previous.toString('hex')]);
    }
    try {
      await store.appendToStream(CHAIN_STREAM, [{ eventId: randomUUID(), type: SEALED, data: page }], {
        expectedRevision: revision < 0 ? 'no_stream' : revision,
      });
    } catch (e) {
      if (e instanceof WrongExpectedRevisionError)
        throw new ChainSealConflictError(
          'another sealer extended the chain meanwhile: run log seal again (nothing of this page was written)',
        );
      throw e;
    }
    revision++;
    last = page;
    after = page.lastPosition;
    sealed += events.length;
    opts.onProgress?.(sealed);
  }
  return { sealed, head: await sealedHead(store) };
}

/**
 * Walks the global log next to the sealed links and finds the first event that is not what was
 * sealed (altered: its link differs; missing: a sealed event is gone; inserted: an event that was
 * never sealed among sealed ones). Memory holds one window of sealed pages, not the whole chain.
 */
export async function verifySealedLog(
  store: EventStore,
  opts: {
    pageSize?: number;
    onProgress?: (p: { eventsChecked: number; position: number; headPosition: number; elapsedMs: number }) => void;
    now?: () => number;
    expectHead?: AnchoredHead;
  } = {},
): Promise<VerifyLogResult & { unsealed: number }> {
  const now = opts.now ?? Date.now;
  const started = now();
  const pageSize = opts.pageSize ?? 1000;
  const headPosition = await store.headPosition();
  const sealedTo = (await sealedHead(store)).seq;
  const verifier = new ChainVerifier(opts.expectHead?.seq);
  const window = new Map<string, { seq: number; hash: string }>();
  let nextPageRevision = 0;
  let loadedTo = 0;
  const loadSealedPage = async () => {
    const pages = await store.readStream(CHAIN_STREAM, { fromRevision: nextPageRevision, maxCount: 1 }).catch((e: unknown) => {
      if (e instanceof StreamNotFoundError) return [];
      throw e;
    });
    if (pages.length === 0) return false;
    const page = pages[0].data as SealedPage;
    page.links.forEach(([eventId, hash], i) => window.set(eventId, { seq: page.fromSeq + i, hash }));
    loadedTo = page.toSeq;
    nextPageRevision++;
    return true;
  };

  let after = 0;
  let eventsChecked = 0;
  let unsealed = 0;
  walk: for (;;) {
    const events = await store.readAll({ after, maxCount: pageSize });
    if (events.length === 0) break;
    const rows: ChainedRow[] = [];
    for (const e of events) {
      // keep the window a page ahead of the verified link, dropping what is behind it
      while (loadedTo < verifier.rowsSeen + rows.length + pageSize && (await loadSealedPage()));
      const fields = fieldsOf(e);
      const link = window.get(e.eventId);
      if (!link && verifier.rowsSeen + rows.length >= sealedTo) {
        // past the last seal: not chained yet
        verifier.push(rows);
        eventsChecked = verifier.rowsSeen;
        unsealed = 1 + (await store.readAll({ after: e.position })).length;
        break walk;
      }
      rows.push({ ...fields, position: e.position, seq: link?.seq ?? null, hash: link?.hash ?? null });
      if (link) window.delete(e.eventId);
    }
    const goOn = verifier.push(rows);
    eventsChecked = verifier.rowsSeen;
    after = events[events.length - 1].position;
    opts.onProgress?.({ eventsChecked, position: after, headPosition, elapsedMs: now() - started });
    if (!goOn) break;
  }
  const end = verifier.end();
  const elapsedMs = now() - started;
  if (end.ok && end.head.seq < sealedTo) {
    const reason = `sealed events #${end.head.seq + 1}-#${sealedTo} are missing from the log (after position ${end.head.position})`;
    return {
      ok: false,
      problem: { kind: 'missing', beforePosition: end.head.position, seqs: [end.head.seq + 1, sealedTo], reason },
      verified: end.head,
      eventsChecked,
      elapsedMs,
      unsealed,
    };
  }
  if (!end.ok) return { ...end, eventsChecked, elapsedMs, unsealed };
  const anchor = opts.expectHead;
  if (anchor && anchor.seq > 0 && verifier.watched !== anchor.hash) {
    const reason =
      verifier.watched === undefined
        ? `the sealed chain has ${end.head.seq} events, fewer than the ${anchor.seq} of the anchored head: events were removed`
        : `link #${anchor.seq} is ${verifier.watched.slice(0, 16)}..., not the anchored ${anchor.hash.slice(0, 16)}...: the log up to it was rewritten`;
    return { ok: false, problem: { kind: 'anchor', seq: anchor.seq, reason }, verified: end.head, eventsChecked, elapsedMs, unsealed };
  }
  return { ok: true, head: end.head, eventsChecked, elapsedMs, unsealed };
}
