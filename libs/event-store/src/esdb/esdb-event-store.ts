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
import { EventIdConflictError, StoreUnavailableError, StreamNotFoundError } from '../errors';
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
import { isStreamNotFound, isWrongExpectedVersion, mapEsdbError } from './errors';
import { eventIdStream, isHiddenStream, isSystemEventType, toEsdbMetadata } from './naming';
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
  /** where the adapter reports reconnects and similar operational facts; default: nowhere */
  log?: (message: string) => void;
}

const RESERVED = 'EventIdReserved';
const RELEASED = 'EventIdReleased';

interface Reservation {
  streamId: string;
  hash: string;
  reservedAt: string;
}

type ClaimOutcome = { kind: 'fresh'; release?: { stream: string; revision: bigint } } | { kind: 'duplicate'; recorded: RecordedEvent };

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
  readonly capabilities = { atomicMultiStreamAppend: false };
  private readonly leaseMs: number;
  private readonly pageSize: number;
  private readonly subscriptions = new Set<EsdbSubscription>();
  private closed = false;

  constructor(
    readonly client: EventStoreDBClient,
    private readonly options: EsdbEventStoreOptions = {},
  ) {
    this.leaseMs = options.reservationLeaseMs ?? 30_000;
    this.pageSize = options.readPageSize ?? 500;
  }

  /** `esdb://host:2113?tls=false` (single node) or any connection string the client accepts. */
  static connect(connectionString: string, options: EsdbEventStoreOptions = {}): EsdbEventStore {
    return new EsdbEventStore(EventStoreDBClient.connectionString(connectionString), options);
  }

  // ---- appends ------------------------------------------------------------------------------------

  async appendToStream(
    streamId: string,
    events: EventData[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    this.assertOpen();
    const expected = options.expectedRevision ?? 'any';
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
    const settled = await Promise.allSettled(unique.map((u) => this.claim(u.event.eventId, streamId, u.hash)));
    const claims: ClaimOutcome[] = [];
    const failure = settled.find((s) => s.status === 'rejected');
    for (const s of settled) if (s.status === 'fulfilled') claims.push(s.value);
    if (failure) {
      await this.release(claims);
      throw (failure as PromiseRejectedResult).reason;
    }

    const fresh: { event: EventData; index: number }[] = [];
    unique.forEach((u, i) => {
      const c = claims[i];
      if (c.kind === 'duplicate')
        out[u.index] = { eventId: u.event.eventId, revision: c.recorded.revision, position: c.recorded.position, duplicate: true };
      else fresh.push(u);
    });

    let nextExpectedRevision: number;
    if (fresh.length === 0) {
      nextExpectedRevision = (await this.streamRevisions([streamId])).get(streamId) ?? -1;
    } else {
      // 2. append the new events with the caller's expected revision
      let result;
      try {
        result = await this.client.appendToStream(
          streamId,
          fresh.map(({ event }) =>
            jsonEvent({
              id: event.eventId,
              type: event.type,
              data: (event.data ?? null) as never,
              metadata: toEsdbMetadata(event.metadata),
            }),
          ),
          { expectedRevision: toEsdbExpected(expected) },
        );
      } catch (err) {
        const mapped = mapEsdbError(err, streamId, expected);
        // An unavailable server may or may not have written: keep the reservations so a retry
        // finds the events if they were written. A refused append wrote nothing: release them.
        if (!(mapped instanceof StoreUnavailableError)) await this.release(claims);
        throw mapped;
      }
      nextExpectedRevision = Number(result.nextExpectedRevision);
      // 3. revisions and positions of what was written
      if (fresh.length === 1 && result.position) {
        out[fresh[0].index] = {
          eventId: fresh[0].event.eventId,
          revision: nextExpectedRevision,
          position: Number(result.position.commit),
          duplicate: false,
        };
      } else {
        const first = nextExpectedRevision - fresh.length + 1;
        const written = await this.readStreamRaw(streamId, {
          direction: 'forwards',
          fromRevision: Math.max(0, first),
          maxCount: fresh.length,
        });
        const byId = new Map(written.map((e) => [e.eventId, e]));
        for (const { event, index } of fresh) {
          const e = byId.get(event.eventId) ?? (await this.findInStream(streamId, event.eventId));
          if (!e) throw new Error(`EventStoreDB acknowledged event ${event.eventId} on ${streamId} but it cannot be read back`);
          out[index] = { eventId: event.eventId, revision: e.revision, position: e.position, duplicate: false };
        }
      }
    }
    for (const { index, firstIndex } of repeats) out[index] = { ...out[firstIndex], duplicate: true };
    return { streamId, nextExpectedRevision, events: out };
  }

  async appendMany(writes: StreamWrite[]): Promise<AppendResult[]> {
    const results: AppendResult[] = [];
    for (const w of writes) results.push(await this.appendToStream(w.streamId, w.events, { expectedRevision: w.expectedRevision }));
    return results;
  }

  /**
   * Reserves `eventId` for `streamId` with expected revision `no_stream` on its reservation stream;
   * when the reservation exists, decides from it and from the stream it names.
   */
  private async claim(eventId: string, streamId: string, hash: string, attempt = 0): Promise<ClaimOutcome> {
    const stream = eventIdStream(eventId);
    const reserve = async (expectedRevision: AppendExpectedRevision): Promise<ClaimOutcome> => {
      try {
        const data = { streamId, hash, reservedAt: new Date().toISOString() } satisfies Reservation;
        const r = await this.client.appendToStream(stream, jsonEvent({ type: RESERVED, data }), { expectedRevision });
        return { kind: 'fresh', release: { stream, revision: r.nextExpectedRevision } };
      } catch (err) {
        if (!isWrongExpectedVersion(err)) throw mapEsdbError(err, stream);
        if (attempt >= 3) throw new StoreUnavailableError(`eventId ${eventId} is contended by concurrent writers; retry`);
        return this.claim(eventId, streamId, hash, attempt + 1);
      }
    };
    // The common case, a new eventId: one round trip.
    if (attempt === 0) return reserve(NO_STREAM);
    const last = await this.lastReservation(stream);
    if (!last) return reserve(NO_STREAM);
    if (last.type === RELEASED) return reserve(last.revision);
    const { reservation } = last;
    const stored = await this.findInStream(reservation.streamId, eventId);
    if (stored) {
      if (contentHash(stored as EventData) !== hash) throw new EventIdConflictError(eventId, stored.streamId);
      return { kind: 'duplicate', recorded: stored };
    }
    // Reserved, not (yet) written. Same stream and content: a retry of a call that did not get
    // through (or is still on its way); appending is safe, the stream's expected revision and the
    // server's own per-stream dedupe keep it single.
    if (reservation.streamId === streamId && reservation.hash === hash) return { kind: 'fresh' };
    // A writer reserved it for another stream or content and never wrote it: after the lease, take over.
    if (this.expired(reservation)) return reserve(last.revision);
    throw new StoreUnavailableError(
      `eventId ${eventId} is reserved by another writer for ${reservation.streamId === streamId ? 'different content' : `stream ${reservation.streamId}`}; retry later`,
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
      const events = await drain(this.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }));
      const e = events[0]?.event;
      if (!e) return undefined;
      return { revision: e.revision, type: e.type, reservation: e.data as unknown as Reservation };
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw mapEsdbError(err, stream);
    }
  }

  /** The event with this id in this stream, reading backwards (retries are usually of recent events). */
  private async findInStream(streamId: string, eventId: string): Promise<RecordedEvent | undefined> {
    let from: bigint | typeof END = END;
    for (;;) {
      let page: RecordedEvent[];
      try {
        page = (
          await drain(this.client.readStream(streamId, { direction: BACKWARDS, fromRevision: from, maxCount: this.pageSize }))
        ).flatMap(toRecorded);
      } catch (err) {
        if (isStreamNotFound(err)) return undefined;
        throw mapEsdbError(err, streamId);
      }
      const hit = page.find((e) => e.eventId === eventId);
      if (hit) return hit;
      const lowest = page[page.length - 1]?.revision ?? 0;
      if (page.length < this.pageSize || lowest === 0) return undefined;
      from = BigInt(lowest - 1);
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
        }),
      );
      return events.flatMap(toRecorded);
    } catch (err) {
      throw mapEsdbError(err, streamId);
    }
  }

  async streamRevisions(streamIds: string[]): Promise<Map<string, number>> {
    this.assertOpen();
    const revisions = await Promise.all(
      streamIds.map(async (id) => {
        try {
          const [last] = await this.readStreamRaw(id, { direction: 'backwards', maxCount: 1 });
          return last ? last.revision : -1;
        } catch (err) {
          if (err instanceof StreamNotFoundError) return -1;
          throw err;
        }
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

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  return typeof expected === 'number' ? BigInt(expected) : expected;
}

/** Reads a client stream to its end: a read left undrained keeps the call (and `dispose()`) open. */
async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}
