import { randomUUID } from 'node:crypto';
import { BACKWARDS, END, FORWARDS, jsonEvent, NO_STREAM, START, type EventStoreDBClient } from '@eventstore/db-client';
import {
  chooseSurvivor,
  decideSharedIdentifierMerge,
  followMergeChainAsync,
  mergeCarriedOut,
  PLAIN_IDENTIFIER_INDEX,
  type Identifier,
  type IdentifierIndex,
} from '@cem/domain';
import { StoreRefusedError, StoreUnavailableError } from '@cem/event-store';
import type { RecordedEvent } from '@cem/event-store';
import { isStreamNotFound, isWrongExpectedVersion, mapEsdbError } from '@cem/event-store/esdb/errors';
import { EsdbSubscription } from '@cem/event-store/esdb/esdb-subscription';
import { escapeRegex, INTERNAL_STREAM_PREFIX, identifierStream } from '@cem/event-store/esdb/naming';
import { toRecorded } from '@cem/event-store/esdb/records';
import {
  IdentifierIndexMismatchError,
  type IdentityConflict,
  type IdentityRegistry,
  type PendingMerge,
  RegistryNotEmptyError,
  type RegistryState,
  type Resolution,
  type ResolveRequest,
  type UnmergeMove,
  newCustomerId,
} from '../port';

/** Registry streams (hidden from the global log by the internal prefix). */
export const registryCustomerStream = (customerId: string): string => `${INTERNAL_STREAM_PREFIX}customer-${customerId}`;
export const REGISTRY_MERGES_STREAM = `${INTERNAL_STREAM_PREFIX}identity-merges`;
export const REGISTRY_CONFLICTS_STREAM = `${INTERNAL_STREAM_PREFIX}identity-conflicts`;
/** Its first event records the identifier index the registry streams are keyed by (checkIndex). */
export const REGISTRY_INDEX_STREAM = `${INTERNAL_STREAM_PREFIX}identity-index`;

const CLAIMED = 'IdentifierClaimed';
const REGISTERED = 'CustomerRegistered';
const MERGED_INTO = 'CustomerMergedInto';
const MERGE_DECIDED = 'MergeDecided';
const MERGE_CONFIRMED = 'MergeConfirmed';
/** on a split customer's registry stream: live again (its MergedInto is undone) */
const UNMERGED = 'CustomerUnmerged';
/** on a survivor's registry stream: never merge it with `otherId` again */
const KEPT_APART = 'CustomerKeptApart';
/** on an identifier's claim stream: owned by `customerId` from now on (an unmerge moved it) */
const MOVED = 'IdentifierMoved';
const CONFLICT = 'IdentityConflict';
const INDEX_RECORDED = 'IdentifierIndexRecorded';
/** on an identifier's claim stream: owned by no one from now on (an erasure released it); a new claim appends after it */
const RELEASED = 'IdentifierReleased';
/** on an erased customer's registry stream: its claims are released; a claim still naming it is released when met */
const ERASED = 'CustomerErased';

export interface EsdbIdentityRegistryOptions {
  newCustomerId?: () => string;
  /** how often one request is re-resolved after losing a race to another writer; default 20 */
  maxAttempts?: number;
  /**
   * Follow the registry streams through one filtered `$all` subscription and resolve from the index
   * it feeds (default true). false: every resolution reads the registry streams it needs from the
   * server (the protocol without memory; for tests and comparisons).
   */
  followRegistry?: boolean;
  /** told the id of every customer this instance registers (its customer stream cannot exist yet) */
  onRegistered?: (customerId: string) => void;
  /** where operational facts go (the subscription's reconnects); default: nowhere */
  log?: (message: string) => void;
  /**
   * How identifiers are keyed (default: plain `kind:value`): with the blind index, the reservation
   * stream of an identifier is named by its keyed hash, so no stream name or registry event holds it.
   */
  index?: IdentifierIndex;
}

interface CustomerState {
  /** the live customer at the end of the merge chain */
  customerId: string;
  /** revision of its registry stream (compare-and-set point for merging it away) */
  revision: bigint;
  /** registration order: the `$all` position of its registration */
  seq: number;
  /** customers an unmerge keeps apart from this one */
  apart: readonly string[];
  /** erased: no identifier resolves to it any more */
  erased: boolean;
}

/** What the registry streams of one identifier say (folded in revision order). */
interface ClaimFacts {
  /** the customer owning it now; undefined once released by an erasure */
  owner?: string;
  /** revision of the claim stream's last event */
  revision: number;
  /** soft-deleted, truncated or rewritten by an operator: refused, never read as a second owner */
  deleted?: boolean;
}

/** What the registry stream of one customer says (folded in revision order). */
interface CustomerFacts {
  id: string;
  revision: number;
  seq: number;
  survivorId?: string;
  apart: readonly string[];
  erased: boolean;
  deleted?: boolean;
}

const IDENTIFIER_PREFIX = identifierStream('');
/** shared by every customer kept apart from no one (memory) */
const NONE: readonly string[] = Object.freeze([]);
const CUSTOMER_PREFIX = registryCustomerStream('');
/** The registry streams (and their `$$` metadata streams, where an operator's deletion shows) in `$all`. */
const REGISTRY_STREAMS_REGEX = `^(\\$\\$)?(${[IDENTIFIER_PREFIX, CUSTOMER_PREFIX].map(escapeRegex).join('|')}|${escapeRegex(REGISTRY_MERGES_STREAM)}$)`;

const REGISTRY_STREAMS = new RegExp(REGISTRY_STREAMS_REGEX);

/**
 * The registry in memory: every identifier's claim state and every customer's registration, merge
 * pointer, kept-apart pairs and erasure, plus the merges not yet confirmed. Fed in `$all` order by
 * the subscription, and by this instance's own writes and direct reads; every stream's state carries
 * its revision, so an event is applied once whichever source brings it first.
 */
class RegistryIndex {
  /** the common case, claimed once and never changed, is held as the owner's id alone (memory) */
  private readonly claims = new Map<string, string | ClaimFacts>();
  readonly customers = new Map<string, CustomerFacts>();
  readonly decided = new Map<string, PendingMerge>();
  readonly confirmed = new Set<string>();
  /** bumped by every unmerge step applied (identifier moved, pair kept apart, customer unmerged) */
  unmergeSteps = 0;

  /** one event of a registry stream (or of its metadata stream), in its stream's order */
  apply(e: Pick<RecordedEvent, 'streamId' | 'type' | 'data' | 'revision' | 'position'>): void {
    const { streamId, type } = e;
    const data = (e.data ?? {}) as Record<string, unknown>;
    if (streamId.startsWith('$$')) {
      // an operator deleted (soft: `$tb`) or truncated a registry stream: what it hides cannot be decided from
      const meta = data;
      if (meta.$tb !== undefined || meta.$maxCount !== undefined || meta.$maxAge !== undefined) this.markDeleted(streamId.slice(2));
      return;
    }
    if (type.startsWith('$')) {
      if (type === '$streamDeleted') this.markDeleted(streamId);
      return;
    }
    if (streamId === REGISTRY_MERGES_STREAM) {
      if (type === MERGE_DECIDED) {
        const m = data as unknown as PendingMerge;
        if (!this.decided.has(m.mergeId) && !this.confirmed.has(m.mergeId)) this.decided.set(m.mergeId, m);
      } else if (type === MERGE_CONFIRMED) {
        for (const id of (data as { mergeIds: string[] }).mergeIds) {
          this.confirmed.add(id);
          this.decided.delete(id);
        }
      }
      return;
    }
    if (streamId.startsWith(IDENTIFIER_PREFIX)) this.applyClaim(streamId.slice(IDENTIFIER_PREFIX.length), type, data, e.revision);
    else if (streamId.startsWith(CUSTOMER_PREFIX))
      this.applyCustomer(streamId.slice(CUSTOMER_PREFIX.length), type, data, e.revision, e.position);
  }

  claim(key: string): ClaimFacts | undefined {
    const held = this.claims.get(key);
    return typeof held === 'string' ? { owner: held, revision: 0 } : held;
  }

  private setClaim(key: string, facts: ClaimFacts): void {
    this.claims.set(key, facts.revision === 0 && facts.owner !== undefined && !facts.deleted ? facts.owner : facts);
  }

  private applyClaim(key: string, type: string, data: Record<string, unknown>, revision: number): void {
    const st = this.claim(key);
    if (st && revision <= st.revision) return;
    if (!st && revision !== 0) {
      // its first event is not at revision 0: the stream was deleted and written again
      this.setClaim(key, { revision, deleted: true });
      return;
    }
    const next: ClaimFacts = st ?? { revision };
    next.revision = revision;
    if (type === CLAIMED) {
      // a claim over a claim that was never released: the stream was deleted and written again
      if (st && st.owner !== undefined) next.deleted = true;
      next.owner = this.intern(data.customerId as string);
    } else if (type === MOVED) {
      next.owner = this.intern(data.customerId as string);
      this.unmergeSteps++;
    } else if (type === RELEASED) next.owner = undefined;
    this.setClaim(key, next);
  }

  private applyCustomer(id: string, type: string, data: Record<string, unknown>, revision: number, position: number): void {
    const st = this.customers.get(id);
    if (st && revision <= st.revision) return;
    if (type === REGISTERED) {
      if (st || revision !== 0) {
        this.customers.set(id, { ...(st ?? { id, seq: position, apart: NONE, erased: false }), revision, deleted: true });
        return;
      }
      this.customers.set(id, { id, revision, seq: position, apart: NONE, erased: false });
      return;
    }
    if (!st) {
      // events of a customer whose registration this index never saw (deleted and rewritten)
      this.customers.set(id, { id, revision, seq: position, apart: NONE, erased: false, deleted: true });
      return;
    }
    st.revision = revision;
    if (type === MERGED_INTO) st.survivorId = this.intern(data.survivorId as string);
    else if (type === UNMERGED) st.survivorId = undefined;
    else if (type === KEPT_APART) st.apart = [...st.apart, this.intern(data.otherId as string)];
    if (type === UNMERGED || type === KEPT_APART) this.unmergeSteps++;
    else if (type === ERASED) st.erased = true;
  }

  private markDeleted(streamId: string): void {
    if (streamId.startsWith(IDENTIFIER_PREFIX)) {
      const key = streamId.slice(IDENTIFIER_PREFIX.length);
      this.setClaim(key, { ...(this.claim(key) ?? { revision: -1 }), deleted: true });
    } else if (streamId.startsWith(CUSTOMER_PREFIX)) {
      const id = streamId.slice(CUSTOMER_PREFIX.length);
      const st = this.customers.get(id) ?? { id, revision: -1, seq: 0, apart: NONE, erased: false };
      this.customers.set(id, { ...st, deleted: true });
    }
  }

  /** one string per customer id however many identifiers name it (memory) */
  private intern(id: string): string {
    return this.customers.get(id)?.id ?? id;
  }

  /**
   * A whole stream read from the server (events from its first kept revision): replaces what the
   * index holds when it is at least as recent. A stream read empty that the index knew was deleted.
   */
  replace(streamId: string, events: RecordedEvent[]): void {
    const isClaim = streamId.startsWith(IDENTIFIER_PREFIX);
    const key = streamId.slice(isClaim ? IDENTIFIER_PREFIX.length : CUSTOMER_PREFIX.length);
    const held = isClaim ? this.claim(key) : this.customers.get(key);
    const last = events[events.length - 1];
    if (held?.deleted) return; // sticky: an operator's deletion stays refused until restored
    if (!last) {
      if (held && held.revision >= 0) this.markDeleted(streamId); // was there, is gone
      return;
    }
    if (held && held.revision > last.revision) return;
    if (isClaim) this.claims.delete(key);
    else this.customers.delete(key);
    for (const e of events) this.apply(e);
  }
}

/** Lost a race: re-read and resolve the request again. */
class Contended extends Error {}

/**
 * The identity registry on EventStoreDB alone, so several API instances sharing one server never
 * split a customer (no local file involved):
 *
 * - one reservation stream per normalised identifier (`cem-internal-identifier-<kind:value>`), claimed
 *   with expected revision `no_stream`: its first event names the owner, and only one writer can
 *   ever append it;
 * - one registry stream per customer (`cem-internal-customer-<id>`): `CustomerRegistered` (its `$all`
 *   position is the registration order the survivor rule needs), then at most one
 *   `CustomerMergedInto`, appended with the exact expected revision so two writers cannot both merge
 *   it; owners are always followed through merges, so a claim that names a merged-away customer
 *   still leads to the survivor. The survivor is always the earlier registered, so merge chains
 *   cannot form a cycle;
 * - merges decided are logged in `cem-internal-identity-merges` (`MergeDecided` / `MergeConfirmed`).
 *
 * A writer that loses a race (an identifier claimed or a customer merged under it) re-reads and
 * resolves the request again.
 *
 * Each instance follows the registry streams through one filtered `$all` subscription (caught up
 * before it resolves anything) into an in-memory index, so resolving a batch reads nothing: an
 * identifier the index does not know is claimed outright (`no_stream`), a merge compares-and-sets on
 * the revision the index holds. The index may lag behind another instance's writes by the
 * subscription's delay; every write it decides is a compare-and-set on the server, so a stale index
 * makes the write fail, and the request is resolved again from the streams read afresh. What
 * another instance changes without a compare-and-set of ours (unmerge, erasure, merge) reaches this
 * one through the subscription, without a restart.
 */
export class EsdbIdentityRegistry implements IdentityRegistry {
  readonly canForget = true;
  private readonly newCustomerId: () => string;
  private readonly maxAttempts: number;
  private readonly index: IdentifierIndex;
  private readonly known = new RegistryIndex();
  private readonly followRegistry: boolean;
  private subscription?: EsdbSubscription;
  private following?: Promise<void>;
  /** `$all` position of the last registry event the subscription applied */
  private followed = -1;
  private readonly waiters = new Set<() => void>();
  private closed = false;
  /** the subscription has caught up with the server once (the index holds everything written before it started) */
  private caughtUpOnce = false;
  /** `$all` position of the last registry event this instance wrote */
  lastWrittenPosition = -1;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly options: EsdbIdentityRegistryOptions = {},
  ) {
    this.newCustomerId = options.newCustomerId ?? newCustomerId;
    this.maxAttempts = options.maxAttempts ?? 20;
    this.index = options.index ?? PLAIN_IDENTIFIER_INDEX;
    this.followRegistry = options.followRegistry ?? true;
  }

  /**
   * Opens the subscription to the registry streams and resolves once it has caught up with the
   * server (everything written before is in the index). Called at boot, and by the first request
   * otherwise. A subscription refused for good (no read rights on `$all`) leaves the registry reading
   * every stream it needs, as without an index, and says so.
   */
  start(): Promise<void> {
    if (!this.followRegistry || this.closed) return Promise.resolve();
    this.following ??= new Promise<void>((caughtUp) => {
      const sub = new EsdbSubscription(this.client, { batchSize: 1000 }, undefined, this.options.log, undefined, {
        regex: REGISTRY_STREAMS_REGEX,
        keep: (streamId) => REGISTRY_STREAMS.test(streamId),
        unrefTimers: true,
      });
      this.subscription = sub;
      void (async () => {
        try {
          for await (const msg of sub) {
            if (msg.type === 'events') {
              for (const e of msg.events) this.known.apply(e);
              this.advance(msg.events[msg.events.length - 1].position);
            } else {
              this.advance(msg.position);
              this.caughtUpOnce = true;
              caughtUp();
            }
          }
        } catch (err) {
          this.options.log?.(
            `identity registry: following the registry streams stopped (${(err as Error).message}); resolving by reading them`,
          );
        } finally {
          this.subscription = undefined;
          this.caughtUpOnce = false;
          caughtUp();
          this.wakeWaiters();
        }
      })();
    });
    return this.following;
  }

  private advance(position: number): void {
    if (position <= this.followed) return;
    this.followed = position;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  /** whether resolutions may trust the index (the subscription is running and caught up once) */
  private get indexed(): boolean {
    return this.subscription !== undefined && this.caughtUpOnce;
  }

  /**
   * Resolves when the subscription has applied every registry event up to `position` (e.g. another
   * instance's `lastWrittenPosition`); false when `timeoutMs` passed first or nothing is followed.
   */
  async followedUpTo(position: number, timeoutMs = 10_000): Promise<boolean> {
    await this.start();
    const deadline = Date.now() + timeoutMs;
    while (this.followed < position) {
      if (!this.indexed) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
    return true;
  }

  /**
   * Boot check: the index the registry streams are keyed by is recorded once (the first event of
   * REGISTRY_INDEX_STREAM, appended with no_stream so racing instances agree); an instance started
   * with another one (privacy switched on or off, another PRIVACY_INDEX_SECRET) is refused, since its
   * lookups would miss every identifier and split customers. A registry that predates the record
   * (`logHasEvents` and nothing recorded) is plain; switching it to the blind index needs the re-keying
   * procedure of docs/privacy.md first (streams are append-only), so that is refused too.
   */
  async checkIndex(logHasEvents: boolean): Promise<void> {
    let [first] = await this.read(REGISTRY_INDEX_STREAM, 'forwards', 1);
    if (!first) {
      const predates = logHasEvents;
      const fingerprint = predates ? PLAIN_IDENTIFIER_INDEX.fingerprint : this.index.fingerprint;
      try {
        await this.append(REGISTRY_INDEX_STREAM, INDEX_RECORDED, { fingerprint }, NO_STREAM);
      } catch (err) {
        if (!(err instanceof WrongRevision)) throw err;
      }
      [first] = await this.read(REGISTRY_INDEX_STREAM, 'forwards', 1);
    }
    const recorded = (first?.data as { fingerprint?: string } | undefined)?.fingerprint;
    if (recorded === this.index.fingerprint) return;
    throw new IdentifierIndexMismatchError(
      this.index.mode === 'plain'
        ? 'PRIVACY_INDEX_SECRET: required: the EventStoreDB identity registry keys identifiers by the blind index (docs/privacy.md)'
        : recorded === PLAIN_IDENTIFIER_INDEX.fingerprint
          ? 'PRIVACY_INDEX_SECRET: the EventStoreDB identity registry holds identifiers in plain; re-key it first (docs/privacy.md, existing EventStoreDB registry)'
          : 'PRIVACY_INDEX_SECRET: differs from the secret the EventStoreDB identity registry was keyed with (docs/privacy.md)',
    );
  }

  /**
   * Resolves the requests one after the other, from the index (no read) once it has caught up, by
   * reading the streams before. A request that loses a race is resolved again from the registry
   * streams read afresh (which also corrects the index).
   */
  async resolveBatch(requests: ResolveRequest[]): Promise<Resolution[]> {
    // follows from the first use on; until caught up (or with the server away) it resolves by reading
    void this.start();
    const out: Resolution[] = [];
    for (const req of requests) out.push(await this.resolveOne(req));
    return out;
  }

  private async resolveOne(req: ResolveRequest): Promise<Resolution> {
    const keys = [...new Set(req.identifiers.map(this.index.keyOf))].sort();
    const merges: PendingMerge[] = [];
    // a customer registered by an attempt that then lost its claims is reused by the next attempt that needs one
    const issued: { customerId?: string } = {};
    for (let attempt = 1; ; attempt++) {
      try {
        const resolution = await this.tryResolve(req, keys, merges, attempt > 1 || !this.indexed, issued);
        return { ...resolution, merges };
      } catch (err) {
        if (!(err instanceof Contended) || attempt >= this.maxAttempts) {
          if (err instanceof Contended)
            throw new StoreUnavailableError(`identity resolution stayed contended after ${attempt} attempts; retry`);
          throw err;
        }
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
      }
    }
  }

  /** `fresh`: read every registry stream the request needs from the server instead of trusting the index */
  private async tryResolve(
    req: ResolveRequest,
    keys: string[],
    merges: PendingMerge[],
    fresh: boolean,
    issued: { customerId?: string },
  ): Promise<Omit<Resolution, 'merges'>> {
    const claims = await Promise.all(keys.map((k) => this.claim(k, fresh)));
    const unclaimed = keys.filter((_, i) => claims[i]?.owner === undefined);
    const states = new Map<string, { state: CustomerState; keys: string[] }>();
    const resolved = await Promise.all(claims.map((c) => (c?.owner === undefined ? undefined : this.follow(c.owner, fresh))));
    const erased = keys.filter((_, i) => resolved[i]?.erased);
    if (erased.length > 0) {
      // a claim still naming an erased customer (claimed for an event that never landed, or not yet
      // released when this index saw it): released now, and the request resolved again
      for (const key of erased) await this.release(key, async (owner) => (await this.follow(owner, true))?.erased === true);
      throw new Contended();
    }
    resolved.forEach((state, i) => {
      if (!state) return;
      const entry = states.get(state.customerId) ?? { state, keys: [] };
      entry.keys.push(keys[i]);
      states.set(state.customerId, entry);
    });

    if (states.size === 0) {
      let customerId = issued.customerId;
      if (customerId === undefined) {
        customerId = this.newCustomerId();
        await this.append(registryCustomerStream(customerId), REGISTERED, { registeredAt: new Date().toISOString() }, NO_STREAM);
        issued.customerId = customerId;
        this.options.onRegistered?.(customerId);
      }
      await this.claimAll(unclaimed, customerId);
      return { customerId, registered: true };
    }

    let customerId: string;
    const ordered = [...states.values()].map(({ state }) => state);
    if (states.size > 1 && ordered.some((a) => ordered.some((b) => a.apart.includes(b.customerId)))) {
      // an unmerge keeps some of them apart: no merge, no new claims; the earliest registered gets
      // the event and the conflict is kept for review (docs/identity.md, "Unmerge")
      const order = chooseSurvivor(ordered.map((st) => ({ customerId: st.customerId, registeredSeq: st.seq })));
      const conflict = [order.survivorId, ...order.mergedIds];
      const recorded: IdentityConflict = {
        triggeringEventId: req.triggeringEventId,
        customerIds: conflict,
        occurredAt: req.occurredAt,
        source: req.source,
        recordedAt: new Date().toISOString(),
      };
      await this.append(REGISTRY_CONFLICTS_STREAM, CONFLICT, recorded, 'any');
      return { customerId: order.survivorId, registered: false, conflict };
    }
    if (states.size === 1) {
      [customerId] = states.keys();
    } else {
      const decided = decideSharedIdentifierMerge(
        [...states.values()].map(({ state, keys }) => ({ customerId: state.customerId, registeredSeq: state.seq, identifierKeys: keys })),
        req,
      );
      const { survivorId, mergedIds } = decided;
      customerId = survivorId;
      // Compare-and-set on each merged-away customer: only one writer can merge it.
      const results = await Promise.allSettled(
        mergedIds.map((id) => this.append(registryCustomerStream(id), MERGED_INTO, { survivorId }, states.get(id)!.state.revision)),
      );
      const done = mergedIds.filter((_, i) => results[i].status === 'fulfilled');
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      const merge = mergeCarriedOut(decided, done);
      if (merge) {
        await this.append(REGISTRY_MERGES_STREAM, MERGE_DECIDED, merge, 'any');
        merges.push(merge);
      }
      if (failed) throw failed.reason instanceof WrongRevision ? new Contended() : failed.reason;
    }
    await this.claimAll(unclaimed, customerId);
    return { customerId, registered: false };
  }

  /** Claims every key for the customer; any key claimed by someone else meanwhile means: resolve again. */
  private async claimAll(keys: string[], customerId: string): Promise<void> {
    const results = await Promise.allSettled(
      keys.map((k) => {
        const held = this.known.claim(k);
        // after a release a new claim appends right after it; otherwise the claim opens the stream
        const expected = held && held.owner === undefined && held.revision >= 0 ? BigInt(held.revision) : NO_STREAM;
        return this.append(identifierStream(k), CLAIMED, { customerId }, expected);
      }),
    );
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason instanceof WrongRevision ? new Contended() : failed.reason;
  }

  /**
   * Appends one registry event and applies it to the index. A write that fails as unavailable may
   * have been committed (the server answers "timed out" after committing): it is retried a few times
   * with the same event id and the same expected revision, which the server recognises as the same
   * write for `no_stream` and exact revisions, so a merge or claim that landed is never reported as
   * failed and then forgotten. A `no_stream` write answered past revision 0 landed on a stream an
   * operator had soft-deleted.
   */
  private async append(stream: string, type: string, data: object, expectedRevision: bigint | 'no_stream' | 'any'): Promise<bigint> {
    const event = jsonEvent({ id: randomUUID(), type, data: data as never });
    for (let attempt = 1; ; attempt++) {
      let result;
      try {
        result = await this.client.appendToStream(stream, event, { expectedRevision });
      } catch (err) {
        if (isWrongExpectedVersion(err)) {
          // what the index holds of this stream is stale: read it afresh (the retry will use it)
          await this.refresh(stream).catch(() => {});
          throw new WrongRevision(stream);
        }
        const mapped = mapEsdbError(err, stream);
        if (!(mapped instanceof StoreUnavailableError) || attempt >= 3) throw mapped;
        await new Promise((r) => setTimeout(r, 50 * attempt));
        continue;
      }
      const revision = result.nextExpectedRevision;
      if (expectedRevision === NO_STREAM && revision !== 0n) throw deletedRegistryStream(stream);
      const position = result.position ? Number(result.position.commit) : -1;
      if (position > this.lastWrittenPosition) this.lastWrittenPosition = position;
      await this.learnOwnWrite(stream, type, data, Number(revision), position);
      return revision;
    }
  }

  /** Own writes go into the index at once (read-your-writes); one that does not follow on what the index holds makes it read the stream. */
  private async learnOwnWrite(stream: string, type: string, data: object, revision: number, position: number): Promise<void> {
    if (stream === REGISTRY_MERGES_STREAM) return this.known.apply({ streamId: stream, type, data, revision, position });
    const isClaim = stream.startsWith(IDENTIFIER_PREFIX);
    if (!isClaim && !stream.startsWith(CUSTOMER_PREFIX)) return;
    const held = isClaim
      ? this.known.claim(stream.slice(IDENTIFIER_PREFIX.length))
      : this.known.customers.get(stream.slice(CUSTOMER_PREFIX.length));
    if ((held?.revision ?? -1) === revision - 1) this.known.apply({ streamId: stream, type, data, revision, position });
    else if ((held?.revision ?? -1) < revision) await this.refresh(stream);
  }

  /** Reads a claim or customer registry stream from the server into the index. */
  private async refresh(stream: string): Promise<void> {
    if (!stream.startsWith(IDENTIFIER_PREFIX) && !stream.startsWith(CUSTOMER_PREFIX)) return;
    this.known.replace(stream, await this.read(stream, 'forwards', Number.MAX_SAFE_INTEGER));
  }

  private async read(stream: string, direction: 'forwards' | 'backwards', maxCount: number): Promise<RecordedEvent[]> {
    try {
      const out: RecordedEvent[] = [];
      for await (const r of this.client.readStream(stream, {
        direction: direction === 'forwards' ? FORWARDS : BACKWARDS,
        fromRevision: direction === 'forwards' ? START : END,
        maxCount,
        // the registry decides claims and merges from what it reads: only the leader's view will do
        requiresLeader: true,
      })) {
        out.push(...toRecorded(r));
      }
      return out;
    } catch (err) {
      if (isStreamNotFound(err)) return [];
      throw mapEsdbError(err, stream);
    }
  }

  /** What the index holds of this identifier's claim stream (read first when `fresh`); refused when an operator deleted it. */
  private async claim(key: string, fresh: boolean): Promise<ClaimFacts | undefined> {
    if (fresh) await this.refresh(identifierStream(key));
    const held = this.known.claim(key);
    if (held?.deleted) throw deletedRegistryStream(identifierStream(key));
    return held;
  }

  /** follows merges to the live customer; undefined for an id the registry never issued */
  private async follow(customerId: string, fresh: boolean): Promise<CustomerState | undefined> {
    let state: CustomerState | undefined;
    await followMergeChainAsync(customerId, async (id) => {
      let facts = this.known.customers.get(id);
      // a customer the index has not seen (yet) is read, as is every one when asked to read afresh
      if (fresh || !facts || !this.indexed) {
        await this.refresh(registryCustomerStream(id));
        facts = this.known.customers.get(id);
      }
      if (!facts) return undefined;
      if (facts.deleted) throw deletedRegistryStream(registryCustomerStream(id));
      if (facts.survivorId !== undefined) return facts.survivorId;
      state = { customerId: id, revision: BigInt(facts.revision), seq: facts.seq, apart: facts.apart, erased: facts.erased };
      return null;
    });
    return state;
  }

  /**
   * Idempotent by unmergeId: the split customer's `CustomerUnmerged` (naming it) is appended last, so
   * a move interrupted half way is completed by running it again. The survivor's `CustomerKeptApart`
   * changes its revision, so a merge of the survivor decided concurrently loses its compare-and-set
   * and is resolved again (and sees the pair kept apart). Other instances learn it from their
   * subscription.
   */
  async unmerge(moves: UnmergeMove[]): Promise<void> {
    for (const m of moves) {
      const events = await this.read(registryCustomerStream(m.splitId), 'forwards', Number.MAX_SAFE_INTEGER);
      if (events.some((e) => e.type === UNMERGED && (e.data as { unmergeId?: string }).unmergeId === m.unmergeId)) continue;
      const own = async (ids: Identifier[], customerId: string) => {
        for (const id of ids) await this.append(identifierStream(this.index.keyOf(id)), MOVED, { customerId }, 'any');
      };
      await own(m.identifiers, m.splitId);
      await own(m.keptBySurvivor, m.survivorId);
      await this.append(registryCustomerStream(m.survivorId), KEPT_APART, { otherId: m.splitId }, 'any');
      await this.append(registryCustomerStream(m.splitId), KEPT_APART, { otherId: m.survivorId }, 'any');
      await this.append(registryCustomerStream(m.splitId), UNMERGED, { unmergeId: m.unmergeId, survivorId: m.survivorId }, 'any');
      // the customers merged into the split customer point at it already (chains are followed, not re-pointed)
    }
  }

  /**
   * Changes with every unmerge step the index has applied: this instance's own at once, another
   * instance's once the subscription brought it (ingestion resolves again when it changed between
   * resolving and appending; docs/identity.md). From memory: no read.
   */
  async unmergeGeneration(): Promise<number> {
    void this.start();
    return this.known.unmergeSteps;
  }

  async identityConflicts(options: { offset: number; limit: number }): Promise<IdentityConflict[]> {
    const seen = new Set<string>();
    const out: IdentityConflict[] = [];
    for (const e of await this.read(REGISTRY_CONFLICTS_STREAM, 'forwards', Number.MAX_SAFE_INTEGER)) {
      const c = e.data as unknown as IdentityConflict;
      // a resolution retried after a lost race records its conflict again: one entry per event
      if (seen.has(c.triggeringEventId)) continue;
      seen.add(c.triggeringEventId);
      out.push(c);
    }
    return out.slice(options.offset, options.offset + options.limit);
  }

  /** Merges decided and not yet confirmed: from the index while it follows the registry, else read from the merge log. */
  async pendingMerges(): Promise<PendingMerge[]> {
    void this.start();
    if (this.indexed) return [...this.known.decided.values()];
    const decided = new Map<string, PendingMerge>();
    const confirmed = new Set<string>();
    for (const e of await this.read(REGISTRY_MERGES_STREAM, 'forwards', Number.MAX_SAFE_INTEGER)) {
      if (e.type === MERGE_DECIDED) {
        const m = e.data as unknown as PendingMerge;
        if (!decided.has(m.mergeId)) decided.set(m.mergeId, m);
      } else if (e.type === MERGE_CONFIRMED) {
        for (const id of (e.data as { mergeIds: string[] }).mergeIds) confirmed.add(id);
      }
    }
    return [...decided.values()].filter((m) => !confirmed.has(m.mergeId));
  }

  async confirmMerges(mergeIds: string[]): Promise<void> {
    if (mergeIds.length === 0) return;
    await this.append(REGISTRY_MERGES_STREAM, MERGE_CONFIRMED, { mergeIds }, 'any');
  }

  /** Exact: reads the streams it needs (a lookup is one request, not a batch), which also corrects the index. */
  async lookup(identifier: Identifier): Promise<string | undefined> {
    const owner = (await this.claim(this.index.keyOf(identifier), true))?.owner;
    const state = owner === undefined ? undefined : await this.follow(owner, true);
    return state?.erased ? undefined : state?.customerId;
  }

  async canonicalId(customerId: string): Promise<string | undefined> {
    return (await this.follow(customerId, true))?.customerId;
  }

  /**
   * Erasure on append-only streams: each identifier's claim stream gets an `IdentifierReleased` (the
   * owner is the last event, so it no longer resolves, and a later event naming it claims it anew after
   * the release, for a new customer), then each customer's registry stream a `CustomerErased`, so a
   * claim this method was not told of (or another instance has not yet seen released) is released
   * when met. The registry cannot list a customer's identifiers itself: the erasure passes those its
   * events name. Releases compare-and-set on the claim stream; idempotent. Stream names and merge
   * evidence are identifier keys: plaintext unless the registry is keyed by the blind index
   * (docs/privacy.md).
   */
  async forgetCustomers(customerIds: string[], identifiers: Identifier[] = []): Promise<number> {
    const ids = new Set(customerIds);
    const erasedOwner = async (owner: string) => ids.has(owner) || ids.has((await this.follow(owner, true))?.customerId ?? '');
    let released = 0;
    for (const key of new Set(identifiers.map(this.index.keyOf))) if (await this.release(key, erasedOwner)) released++;
    for (const id of customerIds) {
      const events = await this.read(registryCustomerStream(id), 'forwards', Number.MAX_SAFE_INTEGER);
      if (events.length > 0 && !events.some((e) => e.type === ERASED)) await this.append(registryCustomerStream(id), ERASED, {}, 'any');
    }
    return released;
  }

  /** Appends a release to a claim stream whose owner `isErased` says goes (compare-and-set on its last event). */
  private async release(key: string, isErased: (owner: string) => Promise<boolean>): Promise<boolean> {
    for (;;) {
      const events = await this.read(identifierStream(key), 'forwards', Number.MAX_SAFE_INTEGER);
      const last = events[events.length - 1];
      if (!last || last.type === RELEASED) return false;
      const owner = (last.data as { customerId: string }).customerId;
      if (!(await isErased(owner))) return false;
      try {
        await this.append(identifierStream(key), RELEASED, { releasedFrom: owner }, BigInt(last.revision));
        return true;
      } catch (e) {
        if (!(e instanceof WrongRevision)) throw e;
      }
    }
  }

  /**
   * No registry stream yet (the record of the identifier index aside): nothing registered, claimed,
   * merged or in conflict. Reads `$all` until the first registry event (this client cannot filter a
   * read server-side): short on the empty server an import targets, and a registry event is met early
   * on any other.
   */
  async isEmpty(): Promise<boolean> {
    const prefixes = [registryCustomerStream(''), identifierStream(''), REGISTRY_MERGES_STREAM, REGISTRY_CONFLICTS_STREAM];
    let from: { commit: bigint; prepare: bigint } | typeof START = START;
    for (;;) {
      let n = 0;
      let last: { commit: bigint; prepare: bigint } | undefined;
      try {
        for await (const r of this.client.readAll({ direction: FORWARDS, fromPosition: from, maxCount: 4096, requiresLeader: true })) {
          n++;
          if (!r.event?.position || (from !== START && r.event.position.commit === from.commit)) continue;
          if (prefixes.some((p) => r.event!.streamId.startsWith(p))) return false;
          last = r.event.position;
        }
      } catch (err) {
        throw mapEsdbError(err, '$all');
      }
      if (n < 4096 || !last) return true;
      from = last; // read inclusively: the event at `last` is skipped above
    }
  }

  /**
   * Writes a derived registry state (see the port) as the registry streams resolution would have
   * left: each customer's registry stream in registration order (its registration's `$all` position
   * is the survivor rule's order), with its `CustomerKeptApart`, `CustomerUnmerged`, `CustomerMergedInto`
   * (the direct survivor, chains are followed) and `CustomerErased`; one claim stream per identifier,
   * naming its final owner (identifiers of erased customers are not claimed: free for a new customer);
   * every merge decided and confirmed; the conflicts. Refused unless the registry is empty (checked
   * before the first write; streams are append-only, so an interrupted restore leaves a registry a
   * second run refuses: start again from an empty server). Records the identifier index first.
   */
  async restore(state: RegistryState, onProgress?: (done: number, total: number) => void): Promise<void> {
    if (!(await this.isEmpty()))
      throw new RegistryNotEmptyError('the identity registry is not empty: a restore writes into an empty registry only');
    await this.checkIndex(false);
    const total = state.customers.length + state.identifiers.size;
    let done = 0;
    const tell = () => {
      if (++done % 1000 === 0) onProgress?.(done, total);
    };
    const apartOf = new Map<string, string[]>();
    for (const [a, b] of state.apart) {
      apartOf.set(a, [...(apartOf.get(a) ?? []), b]);
      apartOf.set(b, [...(apartOf.get(b) ?? []), a]);
    }
    const unmergesOf = new Map<string, RegistryState['unmerges']>();
    for (const u of state.unmerges) unmergesOf.set(u.splitId, [...(unmergesOf.get(u.splitId) ?? []), u]);
    const registeredAt = new Date().toISOString();
    // one after the other: the order of the registrations in `$all` is the registration order
    for (const c of state.customers) {
      const events = [
        { type: REGISTERED, data: { registeredAt } },
        ...(apartOf.get(c.customerId) ?? []).map((otherId) => ({ type: KEPT_APART, data: { otherId } })),
        ...(unmergesOf.get(c.customerId) ?? []).map((u) => ({
          type: UNMERGED,
          data: { unmergeId: u.unmergeId, survivorId: u.survivorId },
        })),
        ...(c.mergedInto ? [{ type: MERGED_INTO, data: { survivorId: c.mergedInto } }] : []),
        ...(c.erased ? [{ type: ERASED, data: {} }] : []),
      ];
      await this.appendAll(registryCustomerStream(c.customerId), events);
      tell();
    }
    const claims = [...state.identifiers];
    for (let i = 0; i < claims.length; i += 32)
      await Promise.all(
        claims.slice(i, i + 32).map(async ([key, customerId]) => {
          await this.appendAll(identifierStream(key), [{ type: CLAIMED, data: { customerId } }]);
          tell();
        }),
      );
    for (let i = 0; i < state.merges.length; i += 500) {
      const merges = state.merges.slice(i, i + 500);
      await this.appendAll(REGISTRY_MERGES_STREAM, [
        ...merges.map((m) => ({ type: MERGE_DECIDED, data: m })),
        { type: MERGE_CONFIRMED, data: { mergeIds: merges.map((m) => m.mergeId) } },
      ]);
    }
    for (let i = 0; i < state.conflicts.length; i += 500)
      await this.appendAll(
        REGISTRY_CONFLICTS_STREAM,
        state.conflicts.slice(i, i + 500).map((c) => ({ type: CONFLICT, data: c })),
      );
    // this instance resolves from its index: it has followed the restored streams before it answers
    if (this.indexed) await this.followedUpTo(this.lastWrittenPosition, 60_000);
    onProgress?.(total, total);
  }

  /** Appends events to a registry stream in one write (restore: nothing else writes the registry yet). */
  private async appendAll(stream: string, events: { type: string; data: object }[]): Promise<void> {
    let result;
    try {
      result = await this.client.appendToStream(
        stream,
        events.map((e) => jsonEvent({ id: randomUUID(), type: e.type, data: e.data as never })),
        { expectedRevision: 'any' },
      );
    } catch (err) {
      throw mapEsdbError(err, stream);
    }
    const position = result.position ? Number(result.position.commit) : -1;
    if (position > this.lastWrittenPosition) this.lastWrittenPosition = position;
  }

  /** Stops following the registry streams; the client belongs to whoever created it (usually shared with the event store adapter). */
  async close(): Promise<void> {
    this.closed = true;
    await this.subscription?.close();
    this.wakeWaiters();
  }
}

/**
 * A registry stream whose first event is not at revision 0 was soft-deleted by an operator and
 * written again: the original owner is hidden, so the registry refuses to decide from it rather than
 * hand the identifier to a second customer. Names no identifier (personal data).
 */
function deletedRegistryStream(stream: string): StoreRefusedError {
  const kind = stream.startsWith(identifierStream('')) ? 'an identifier claim stream' : `registry stream ${stream}`;
  return new StoreRefusedError(
    'stream-deleted',
    `identity registry: ${kind} was deleted by an operator; its original owner is hidden, so it is not used (restore it, see docs/eventstoredb.md, operator rules)`,
  );
}

class WrongRevision extends Error {
  constructor(readonly stream: string) {
    super(`wrong expected revision on ${stream}`);
  }
}
