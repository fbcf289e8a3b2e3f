import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  jsonEvent,
  NO_STREAM,
  START,
  type AppendExpectedRevision,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { contentHash } from '../content-hash';
import { EventIdConflictError, EventTooLargeError, StoreRefusedError, StoreUnavailableError, StreamNotFoundError } from '../errors';
import type {
  AppendedEvent,
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
} from '../port';
import { DEFAULT_MAX_APPEND_SIZE, esdbEventSize, splitBySize } from './append-size';
import { assertSafeConnectionString } from './connection-string';
import { isMaxAppendSizeExceeded, isStreamNotFound, isWrongExpectedVersion, mapEsdbError, safeStreamName } from './errors';
import { eventIdStream, INTERNAL_STREAM_PREFIX, isHiddenStream, isSystemEventType, toEsdbMetadata } from './naming';
import { EsdbSubscription, type BackoffOptions } from './esdb-subscription';
import { toRecorded } from './records';

export interface EsdbEventStoreOptions {
  /**
   * How long a reservation of an eventId whose event never showed up in its stream blocks another
   * writer that wants the same eventId for a different stream or content (a writer that died between
   * reserving and appending). Default 30 s.
   */
  reservationLeaseMs?: number;
  /** reconnect backoff of global-log subscriptions */
  backoff?: BackoffOptions;
  /** events per page when the adapter reads in pages (global log, idempotency look-ups); default 500 */
  readPageSize?: number;
  /**
   * The server's MaxAppendSize in bytes (data + metadata + 2 per character of the type, summed over
   * one append); default 1 MiB, the server's default. Appends are split to stay within it; when the
   * server answers with a smaller limit, the adapter takes that one.
   */
  maxAppendSize?: number;
  /** where the adapter reports reconnects and similar operational facts; default: nowhere */
  log?: (message: string) => void;
  /**
   * How many streams' last revisions this instance remembers (its own appends, its reads, streams it
   * was told are new); default 100,000, 0 turns the memory off. `streamRevisions` answers from it.
   */
  revisionCacheSize?: number;
}

const RESERVED = 'EventIdReserved';
/** Written once at the first boot and never again: its deletion shows that internal streams were deleted. */
export const GUARD_STREAM = `${INTERNAL_STREAM_PREFIX}guard`;
const RELEASED = 'EventIdReleased';

interface Reservation {
  streamId: string;
  hash: string;
  reservedAt: string;
}

type ClaimOutcome = { kind: 'fresh'; release?: { stream: string; revision: bigint } } | { kind: 'duplicate'; recorded: RecordedEvent };

/** An event of the call that is not stored yet, with the reservation taken for it. */
interface FreshEvent {
  event: EventData;
  index: number;
  claim: ClaimOutcome;
}

/** Events of a call whose `$all` positions are still to learn (all but the last of a multi-event append). */
interface PendingPosition {
  eventId: string;
  streamId: string;
  revision: number;
  out: AppendedEvent[];
  /** where its answer sits in `out` (and where repeats of its eventId in the same call sit) */
  indexes: number[];
}

/**
 * Reads that decide a write (reservations, stream revisions, read-backs) go to the leader: a follower
 * may lag behind after an election, and a stale "not there" would let a retry duplicate an event.
 */
const FROM_LEADER = { requiresLeader: true } as const;

const toJsonEvent = (event: EventData) =>
  jsonEvent({ id: event.eventId, type: event.type, data: (event.data ?? null) as never, metadata: toEsdbMetadata(event.metadata) });

/**
 * The event store port on EventStoreDB through `@eventstore/db-client` (gRPC).
 *
 * - positions are `$all` commit positions (numbers; exact below 2^53, i.e. a 9 PB log);
 * - the global log (`readAll`, `subscribeToAll`, `headPosition`) hides system events (`$` streams and
 *   types) and the adapter's internal streams;
 * - idempotency is store-wide by eventId through one reservation stream per eventId (see
 *   docs/eventstoredb.md for how and its limits);
 * - `appendMany` is not atomic: EventStoreDB appends to one stream per call.
 */
export class EsdbEventStore implements EventStore {
  readonly capabilities = { atomicMultiStreamAppend: false, freshReads: true };
  private readonly leaseMs: number;
  private readonly pageSize: number;
  private appendLimit: number;
  private readonly subscriptions = new Set<EsdbSubscription>();
  private closed = false;
  /**
   * Last revision of streams this instance wrote, read, or was told are new (`noteNewStreams`). Only
   * ever used as an expected revision: a stale entry (another writer appended meanwhile) makes the
   * append fail with a wrong expected revision, which forgets the entry, and the caller's retry reads
   * the stream again. Insertion-ordered, forgets the oldest when full.
   */
  private readonly revisions = new Map<string, number>();
  private readonly revisionCacheSize: number;

  constructor(
    readonly client: EventStoreDBClient,
    private readonly options: EsdbEventStoreOptions = {},
  ) {
    this.leaseMs = options.reservationLeaseMs ?? 30_000;
    this.pageSize = options.readPageSize ?? 500;
    this.appendLimit = options.maxAppendSize ?? DEFAULT_MAX_APPEND_SIZE;
    this.revisionCacheSize = options.revisionCacheSize ?? 100_000;
  }

  /**
   * Streams known not to exist yet (e.g. the stream of a customer the identity registry has just
   * issued a fresh id for): `streamRevisions` answers -1 for them without asking the server. Wrong
   * only if someone else wrote the stream since, which the append's expected revision catches.
   */
  noteNewStreams(streamIds: string[]): void {
    for (const id of streamIds) if (!this.revisions.has(id)) this.remember(id, -1);
  }

  private remember(streamId: string, revision: number): void {
    if (this.revisionCacheSize <= 0) return;
    this.revisions.delete(streamId);
    if (this.revisions.size >= this.revisionCacheSize) this.revisions.delete(this.revisions.keys().next().value!);
    this.revisions.set(streamId, revision);
  }

  /** `esdb://host:2113?tls=false` (single node) or any connection string the client accepts. */
  static connect(connectionString: string, options: EsdbEventStoreOptions = {}): EsdbEventStore {
    assertSafeConnectionString(connectionString);
    return new EsdbEventStore(EventStoreDBClient.connectionString(connectionString), options);
  }

  // ---- appends ------------------------------------------------------------------------------------

  async appendToStream(
    streamId: string,
    events: EventData[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    this.assertOpen();
    this.assertFits(events);
    const pending: PendingPosition[] = [];
    const result = await this.appendChecked(streamId, events, options.expectedRevision ?? 'any', pending);
    await this.fillPositions(pending);
    return result;
  }

  /**
   * Every stream written in order; a call whose events cannot all be appended is refused before
   * anything is written (an event over the server's append size). A failure part-way (server
   * unavailable, another writer first) leaves the earlier streams and chunks written but
   * unacknowledged: a retry with the same eventIds finds them through their reservations and
   * completes the call.
   */
  async appendMany(writes: StreamWrite[]): Promise<AppendResult[]> {
    this.assertOpen();
    for (const w of writes) this.assertFits(w.events);
    const results: AppendResult[] = [];
    const pending: PendingPosition[] = [];
    for (const w of writes) results.push(await this.appendChecked(w.streamId, w.events, w.expectedRevision ?? 'any', pending));
    await this.fillPositions(pending);
    return results;
  }

  /** The server's MaxAppendSize this adapter splits appends for (lowered when the server announces a smaller one). */
  get maxAppendSize(): number {
    return this.appendLimit;
  }

  /** Refuses a call with an event that no append could carry, before anything is written. */
  private assertFits(events: EventData[]): void {
    for (const e of events) {
      const size = esdbEventSize(e);
      if (size > this.appendLimit) throw new EventTooLargeError(e.eventId, size, this.appendLimit);
    }
  }

  private async appendChecked(
    streamId: string,
    events: EventData[],
    expected: ExpectedRevision,
    pending: PendingPosition[],
  ): Promise<AppendResult> {
    const out: AppendedEvent[] = new Array(events.length);
    const unique: { event: EventData; hash: string; index: number }[] = [];
    const repeats: { index: number; firstIndex: number }[] = [];
    const firstInCall = new Map<string, { hash: string; index: number }>();
    events.forEach((event, index) => {
      const hash = contentHash(event);
      const earlier = firstInCall.get(event.eventId);
      if (earlier) {
        if (earlier.hash !== hash) throw new EventIdConflictError(event.eventId, streamId);
        repeats.push({ index, firstIndex: earlier.index });
        return;
      }
      firstInCall.set(event.eventId, { hash, index });
      unique.push({ event, hash, index });
    });

    // 1. reserve every eventId of the call for this stream (or learn it is already stored)
    const scans = new Map<string, StreamScan>();
    const settled = await Promise.allSettled(unique.map((u) => this.claim(u.event.eventId, streamId, u.hash, scans)));
    const claims: ClaimOutcome[] = [];
    const failure = settled.find((s) => s.status === 'rejected');
    for (const s of settled) if (s.status === 'fulfilled') claims.push(s.value);
    if (failure) {
      await this.release(claims);
      throw (failure as PromiseRejectedResult).reason;
    }

    const fresh: FreshEvent[] = [];
    unique.forEach((u, i) => {
      const c = claims[i];
      if (c.kind === 'duplicate')
        out[u.index] = { eventId: u.event.eventId, revision: c.recorded.revision, position: c.recorded.position, duplicate: true };
      else fresh.push({ event: u.event, index: u.index, claim: c });
    });

    let nextExpectedRevision: number;
    if (fresh.length === 0) {
      nextExpectedRevision = (await this.streamRevisions([streamId])).get(streamId) ?? -1;
    } else {
      // 2. append the new events with the caller's expected revision, in chunks under the server's limit
      nextExpectedRevision = await this.appendInChunks(streamId, fresh, resumedExpected(streamId, expected, claims), out, pending);
    }
    for (const { index, firstIndex } of repeats) {
      out[index] = { ...out[firstIndex], duplicate: true };
      pending.find((p) => p.out === out && p.indexes[0] === firstIndex)?.indexes.push(index);
    }
    return { streamId, nextExpectedRevision, events: out };
  }

  /**
   * Appends `fresh` in chunks that each stay within the server's MaxAppendSize. The first chunk
   * carries the caller's expected revision; later chunks the exact revision the previous one ended
   * at (or `any` when the caller asked for `any`), so a batch never lands out of order. A chunk that
   * fails stops the rest: chunks already written keep their reservations (a retry finds them as
   * duplicates); the reservations of unwritten events are released when the server refused (not when
   * it was unavailable: the chunk may have been written).
   */
  private async appendInChunks(
    streamId: string,
    fresh: FreshEvent[],
    expected: ExpectedRevision,
    out: AppendedEvent[],
    pending: PendingPosition[],
  ): Promise<number> {
    let remaining = fresh;
    let expectedNow: ExpectedRevision = expected;
    let next = -1;
    while (remaining.length > 0) {
      const chunk = splitBySize(remaining, (f) => esdbEventSize(f.event), this.appendLimit)[0];
      const single = chunk.length === 1 ? esdbEventSize(chunk[0].event) : 0;
      if (single > this.appendLimit) {
        await this.release(remaining.map((f) => f.claim));
        throw new EventTooLargeError(chunk[0].event.eventId, single, this.appendLimit);
      }
      let result;
      try {
        result = await this.client.appendToStream(
          streamId,
          chunk.map(({ event }) => toJsonEvent(event)),
          { expectedRevision: toEsdbExpected(expectedNow) },
        );
      } catch (err) {
        const serverLimit = (err as { maxAppendSize?: number }).maxAppendSize;
        if (isMaxAppendSizeExceeded(err) && serverLimit && serverLimit < this.appendLimit) {
          // the server is configured below what we assumed: take its limit and split again
          this.options.log?.(`EventStoreDB's MaxAppendSize is ${serverLimit} bytes; appends are split for it from now on`);
          this.appendLimit = serverLimit;
          continue;
        }
        const mapped = mapEsdbError(err, streamId, expectedNow);
        // whatever this instance remembered of the stream is stale or unsure now: the retry reads it
        this.revisions.delete(streamId);
        if (!(mapped instanceof StoreUnavailableError)) await this.release(remaining.map((f) => f.claim));
        throw mapped;
      }
      next = Number(result.nextExpectedRevision);
      this.remember(streamId, next);
      this.recordPositions(streamId, chunk, next, result.position ? Number(result.position.commit) : undefined, out, pending);
      remaining = remaining.slice(chunk.length);
      expectedNow = expected === 'any' ? 'any' : next;
    }
    return next;
  }

  /**
   * Revisions and positions of a written chunk. The append answers the last event's position; the
   * others are learnt after the whole call, from one read of `$all` for all its streams (`fillPositions`).
   */
  private recordPositions(
    streamId: string,
    chunk: FreshEvent[],
    next: number,
    position: number | undefined,
    out: AppendedEvent[],
    pending: PendingPosition[],
  ): void {
    const first = next - chunk.length + 1;
    chunk.forEach(({ event, index }, i) => {
      const revision = first + i;
      const last = i === chunk.length - 1 && position !== undefined;
      out[index] = { eventId: event.eventId, revision, position: last ? position : -1, duplicate: false };
      if (!last) pending.push({ eventId: event.eventId, streamId, revision, out, indexes: [index] });
    });
  }

  /**
   * The `$all` positions of the events of a call the appends did not answer: one read of `$all`
   * backwards from the call's last known position (from the leader) finds them all, since a call's
   * appends are close together in the log; pages until every one is found. An event not found that
   * way (a follower's view, a log flooded by other writers) is read back from its stream.
   */
  private async fillPositions(pending: PendingPosition[]): Promise<void> {
    if (pending.length === 0) return;
    const want = new Map(pending.map((p) => [p.eventId, p]));
    let from: { commit: bigint; prepare: bigint } | typeof END = END;
    const known = [...new Set(pending.map((p) => p.out))].flatMap((out) => out.filter((e) => e && e.position >= 0).map((e) => e.position));
    // every pending event lies before the last event of the call's last append, whose position is known
    if (known.length > 0) {
      const top = BigInt(Math.max(...known));
      from = { commit: top, prepare: top };
    }
    const pageSize = Math.min(4096, Math.max(64, pending.length * 3));
    for (let pages = 0; want.size > 0 && pages < 8; pages++) {
      let page: ResolvedEvent[];
      try {
        page = await drain(this.client.readAll({ direction: BACKWARDS, fromPosition: from, maxCount: pageSize, ...FROM_LEADER }));
      } catch (err) {
        throw mapEsdbError(err, '$all');
      }
      for (const { event: e } of page) {
        const p = e ? want.get(e.id) : undefined;
        if (!p || !e?.position || e.streamId !== p.streamId || Number(e.revision) !== p.revision) continue;
        setPosition(p, Number(e.position.commit));
        want.delete(e.id);
      }
      const oldest = page[page.length - 1]?.event?.position;
      if (page.length < pageSize || !oldest) break;
      from = oldest;
    }
    for (const p of want.values()) {
      const e = await this.findInStream(p.streamId, p.eventId);
      if (!e) throw new Error(`EventStoreDB acknowledged event ${p.eventId} on ${p.streamId} but it cannot be read back`);
      setPosition(p, e.position);
    }
  }

  /**
   * Reserves `eventId` for `streamId` with expected revision `no_stream` on its reservation stream;
   * when the reservation exists, decides from it and from the stream it names.
   */
  private async claim(eventId: string, streamId: string, hash: string, scans: Map<string, StreamScan>, attempt = 0): Promise<ClaimOutcome> {
    const stream = eventIdStream(eventId);
    const reserve = async (expectedRevision: AppendExpectedRevision): Promise<ClaimOutcome> => {
      let revision: bigint;
      try {
        const data = { streamId, hash, reservedAt: new Date().toISOString() } satisfies Reservation;
        revision = (await this.client.appendToStream(stream, jsonEvent({ type: RESERVED, data }), { expectedRevision }))
          .nextExpectedRevision;
      } catch (err) {
        if (!isWrongExpectedVersion(err)) throw mapEsdbError(err, stream);
        if (attempt >= 3) throw new StoreUnavailableError(`eventId ${eventId} is contended by concurrent writers; retry`);
        return this.claim(eventId, streamId, hash, scans, attempt + 1);
      }
      if (expectedRevision === NO_STREAM && revision !== 0n) {
        // `no_stream` answered past revision 0: the server recreated a soft-deleted stream, so an
        // earlier reservation of this id was deleted (against the operator rules). The event may be
        // stored already: decide from the target stream, as for a reservation without its event.
        this.options.log?.(`the reservation stream of an eventId had been deleted (${stream}); deciding from ${streamId}`);
        const stored = await this.findInStream(streamId, eventId, scans);
        if (stored) {
          if (contentHash(stored as EventData) !== hash) throw new EventIdConflictError(eventId, stored.streamId);
          return { kind: 'duplicate', recorded: stored };
        }
        await this.assertNotTruncated(streamId, eventId);
      }
      return { kind: 'fresh', release: { stream, revision } };
    };
    // The common case, a new eventId: one round trip.
    if (attempt === 0) return reserve(NO_STREAM);
    const last = await this.lastReservation(stream);
    if (!last) return reserve(NO_STREAM);
    if (last.type === RELEASED) return reserve(last.revision);
    const { reservation } = last;
    const stored = await this.findInStream(reservation.streamId, eventId, scans);
    if (stored) {
      if (contentHash(stored as EventData) !== hash) throw new EventIdConflictError(eventId, stored.streamId);
      return { kind: 'duplicate', recorded: stored };
    }
    // Reserved, not (yet) written. Same stream and content: a retry of a call that did not get
    // through (or is still on its way); appending is safe, the stream's expected revision and the
    // server's own per-stream dedupe keep it single -- unless the stream was truncated, where "not
    // found" proves nothing.
    if (reservation.streamId === streamId && reservation.hash === hash) {
      await this.assertNotTruncated(streamId, eventId);
      return { kind: 'fresh' };
    }
    // A writer reserved it for another stream or content and never wrote it: after the lease, take over.
    if (this.expired(reservation)) return reserve(last.revision);
    throw new StoreUnavailableError(
      `eventId ${eventId} is reserved by another writer for ${reservation.streamId === streamId ? 'different content' : `stream ${reservation.streamId}`}; retry later`,
    );
  }

  /**
   * A reserved event not found in its stream only proves it was never written when the stream keeps
   * all its events: with `$tb`, `$maxCount` or `$maxAge` set (soft delete, truncation) it may have
   * been written and dropped, and appending it again would duplicate it.
   */
  private async assertNotTruncated(streamId: string, eventId: string): Promise<void> {
    let metadata: { truncateBefore?: unknown; maxCount?: unknown; maxAge?: unknown } | undefined;
    try {
      metadata = (await this.client.getStreamMetadata(streamId, FROM_LEADER)).metadata;
    } catch (err) {
      throw mapEsdbError(err, streamId);
    }
    if (metadata && (metadata.truncateBefore !== undefined || metadata.maxCount !== undefined || metadata.maxAge !== undefined))
      throw new StoreRefusedError(
        'stream-truncated',
        `eventId ${eventId} was reserved for ${safeStreamName(streamId)}, which an operator truncated or deleted ($tb, $maxCount or $maxAge): whether it is stored cannot be decided, so it is not appended again (see docs/eventstoredb.md, operator rules)`,
      );
  }

  private expired(r: Reservation): boolean {
    return Date.now() - Date.parse(r.reservedAt) > this.leaseMs;
  }

  /** Best effort: gives back reservations this call took when its append was refused. */
  private async release(claims: ClaimOutcome[]): Promise<void> {
    await Promise.allSettled(
      claims.map((c) =>
        c.kind === 'fresh' && c.release
          ? this.client.appendToStream(c.release.stream, jsonEvent({ type: RELEASED, data: {} }), { expectedRevision: c.release.revision })
          : Promise.resolve(),
      ),
    );
  }

  private async lastReservation(stream: string): Promise<{ revision: bigint; type: string; reservation: Reservation } | undefined> {
    try {
      const events = await drain(this.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1, ...FROM_LEADER }));
      const e = events[0]?.event;
      if (!e) return undefined;
      return { revision: e.revision, type: e.type, reservation: e.data as unknown as Reservation };
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw mapEsdbError(err, stream);
    }
  }

  /**
   * The event with this id in this stream, reading backwards (retries are usually of recent events).
   * `scans` shares the pages read among the look-ups of one call: a retried batch of thousands of
   * events reads its stream once, not once per event.
   */
  private async findInStream(streamId: string, eventId: string, scans?: Map<string, StreamScan>): Promise<RecordedEvent | undefined> {
    let scan = scans?.get(streamId);
    if (!scan) {
      scan = new StreamScan((from) => this.readPageBackwards(streamId, from), this.pageSize);
      scans?.set(streamId, scan);
    }
    return scan.find(eventId);
  }

  /** One page of a stream read backwards from the leader; undefined when the stream does not exist. */
  private async readPageBackwards(streamId: string, from: bigint | typeof END): Promise<RecordedEvent[] | undefined> {
    try {
      return (
        await drain(this.client.readStream(streamId, { direction: BACKWARDS, fromRevision: from, maxCount: this.pageSize, ...FROM_LEADER }))
      ).flatMap(toRecorded);
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw mapEsdbError(err, streamId);
    }
  }

  // ---- reads --------------------------------------------------------------------------------------

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    return this.readStreamRaw(streamId, options);
  }

  private async readStreamRaw(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    try {
      const events = await drain(
        this.client.readStream(streamId, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : START,
          maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER,
          ...FROM_LEADER,
        }),
      );
      return events.flatMap(toRecorded);
    } catch (err) {
      throw mapEsdbError(err, streamId);
    }
  }

  /**
   * Last revision of each stream: from what this instance remembers (its own appends, streams noted
   * as new), otherwise read from the leader. A remembered revision can be stale when another writer
   * appended since; appending with it as the expected revision then fails, the entry is forgotten,
   * and the caller's retry reads the stream (ingestion re-reads after a wrong expected revision).
   */
  async streamRevisions(streamIds: string[]): Promise<Map<string, number>> {
    this.assertOpen();
    const revisions = await Promise.all(
      streamIds.map(async (id) => {
        const known = this.revisions.get(id);
        if (known !== undefined) return known;
        let revision: number;
        try {
          const [last] = await this.readStreamRaw(id, { direction: 'backwards', maxCount: 1 });
          revision = last ? last.revision : -1;
        } catch (err) {
          if (!(err instanceof StreamNotFoundError)) throw err;
          revision = -1;
        }
        this.remember(id, revision);
        return revision;
      }),
    );
    return new Map(streamIds.map((id, i) => [id, revisions[i]]));
  }

  /** Our events after `after` (exclusive), in `$all` order, system and internal events left out. */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const want = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const out: RecordedEvent[] = [];
    let after = options.after !== undefined && options.after > 0 ? options.after : -1;
    for (;;) {
      const pageSize = Math.min(Math.max(want - out.length + 1, 64), 4096);
      let page: ResolvedEvent[];
      try {
        page = await drain(
          this.client.readAll({
            direction: FORWARDS,
            // the server reads from a position inclusively; the port's checkpoint is exclusive
            fromPosition: after >= 0 ? { commit: BigInt(after), prepare: BigInt(after) } : START,
            maxCount: pageSize,
          }),
        );
      } catch (err) {
        throw mapEsdbError(err, '$all');
      }
      let advanced = false;
      for (const resolved of page) {
        const e = resolved.event;
        if (!e?.position) continue;
        const position = Number(e.position.commit);
        if (position <= after) continue;
        after = position;
        advanced = true;
        if (isHiddenStream(e.streamId) || isSystemEventType(e.type)) continue;
        out.push(...toRecorded(resolved));
        if (out.length >= want) return out;
      }
      if (page.length < pageSize || !advanced) return out;
    }
  }

  /** Position of the last of our events in the global log (system and internal events left out); 0 when none. */
  async headPosition(): Promise<number> {
    this.assertOpen();
    let from: { commit: bigint; prepare: bigint } | typeof END = END;
    for (;;) {
      let page: ResolvedEvent[];
      try {
        page = await drain(this.client.readAll({ direction: BACKWARDS, fromPosition: from, maxCount: this.pageSize }));
      } catch (err) {
        throw mapEsdbError(err, '$all');
      }
      for (const { event: e } of page) {
        if (e && !isHiddenStream(e.streamId) && !isSystemEventType(e.type)) return Number(e.position!.commit);
      }
      const oldest = page[page.length - 1]?.event?.position;
      if (page.length < this.pageSize || !oldest) return 0;
      from = oldest;
    }
  }

  /**
   * Boot check, before serving: this user may read `$all` (AccessDenied otherwise, see
   * docs/eventstoredb.md), and the guard stream `cem-internal-guard`, written at the first boot, was
   * never deleted: a deleted guard means `cem-internal-*` streams (reservations, identity) were
   * deleted against the operator rules, and the process refuses to start. A server that cannot be
   * reached is not a boot failure (calls answer 503 until it is back): the answer says so.
   */
  async checkServer(): Promise<'ok' | 'unreachable'> {
    this.assertOpen();
    try {
      await drain(this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
      const [guard] = (await this.readPageBackwards(GUARD_STREAM, END)) ?? [];
      if (guard) return 'ok';
      const written = await this.client
        .appendToStream(GUARD_STREAM, jsonEvent({ type: 'GuardWritten', data: { writtenAt: new Date().toISOString() } }), {
          expectedRevision: NO_STREAM,
        })
        .catch((err) => {
          if (isWrongExpectedVersion(err)) return undefined; // another instance wrote it first
          throw err;
        });
      if (written && written.nextExpectedRevision !== 0n)
        throw new StoreRefusedError(
          'stream-deleted',
          `EventStoreDB: the guard stream ${GUARD_STREAM} was deleted, so cem-internal-* streams (idempotency, identity) may have been deleted too; refusing to start (see docs/eventstoredb.md, operator rules)`,
        );
      return 'ok';
    } catch (err) {
      const mapped = mapEsdbError(err, err instanceof StoreRefusedError ? GUARD_STREAM : '$all');
      if (mapped instanceof StoreUnavailableError) return 'unreachable';
      throw mapped;
    }
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    this.assertOpen();
    const sub = new EsdbSubscription(this.client, options, this.options.backoff, this.options.log, () => this.subscriptions.delete(sub));
    this.subscriptions.add(sub);
    return sub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.client.dispose();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event store is closed');
  }
}

/**
 * The expected revision for the events of a call still to write. A retried call whose leading events
 * already sit right where its expected revision put them (an earlier attempt wrote its first chunks,
 * then failed) resumes after them; anything else keeps the caller's expected revision.
 */
function resumedExpected(streamId: string, expected: ExpectedRevision, claims: ClaimOutcome[]): ExpectedRevision {
  if (expected !== 'no_stream' && typeof expected !== 'number') return expected;
  const base = expected === 'no_stream' ? -1 : expected;
  let k = 0;
  for (; k < claims.length; k++) {
    const c = claims[k];
    if (c.kind !== 'duplicate' || c.recorded.streamId !== streamId || c.recorded.revision !== base + 1 + k) break;
  }
  if (k === 0 || claims.slice(k).some((c) => c.kind === 'duplicate')) return expected;
  return base + k;
}

/** Reads one stream backwards page by page, on demand, remembering every event it saw. */
class StreamScan {
  private readonly seen = new Map<string, RecordedEvent>();
  /** where the next page starts; undefined once the start of the stream was reached */
  private next: bigint | typeof END | undefined = END;
  private reading?: Promise<void>;

  constructor(
    private readonly readPage: (from: bigint | typeof END) => Promise<RecordedEvent[] | undefined>,
    private readonly pageSize: number,
  ) {}

  async find(eventId: string): Promise<RecordedEvent | undefined> {
    for (;;) {
      const hit = this.seen.get(eventId);
      if (hit) return hit;
      if (this.next === undefined) return undefined;
      this.reading ??= this.readMore().finally(() => (this.reading = undefined));
      await this.reading;
    }
  }

  private async readMore(): Promise<void> {
    const page = await this.readPage(this.next!);
    if (!page) {
      this.next = undefined;
      return;
    }
    for (const e of page) this.seen.set(e.eventId, e);
    const lowest = page[page.length - 1]?.revision ?? 0;
    this.next = page.length < this.pageSize || lowest === 0 ? undefined : BigInt(lowest - 1);
  }
}

function setPosition(p: PendingPosition, position: number): void {
  for (const i of p.indexes) p.out[i] = { ...p.out[i], position };
}

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  return typeof expected === 'number' ? BigInt(expected) : expected;
}

/** Reads a client stream to its end: a read left undrained keeps the call (and `dispose()`) open. */
async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}
