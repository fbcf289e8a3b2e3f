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
import { isStreamNotFound, isWrongExpectedVersion, mapEsdbError } from '@cem/event-store/esdb/errors';
import { INTERNAL_STREAM_PREFIX, identifierStream } from '@cem/event-store/esdb/naming';
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
   * How many settled facts (identifier -> claiming customer, merged-away customer -> survivor) this
   * instance remembers; default 100,000, 0 turns the memory off. Both facts are written once and
   * never change, so remembering them is always correct; it saves a read each.
   */
  factCacheSize?: number;
  /**
   * How identifiers are keyed (default: plain `kind:value`): with the blind index, the reservation
   * stream of an identifier is named by its keyed hash, so no stream name or registry event holds it.
   */
  index?: IdentifierIndex;
}

/** Insertion-ordered memory of facts that never change once written; forgets the oldest when full. */
class FactCache {
  private readonly map = new Map<string, string>();
  constructor(private readonly max: number) {}
  get(key: string): string | undefined {
    return this.map.get(key);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  set(key: string, value: string): void {
    if (this.max <= 0 || this.map.has(key)) return;
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}

interface CustomerState {
  /** the live customer at the end of the merge chain */
  customerId: string;
  /** revision of its registry stream (compare-and-set point for merging it away) */
  revision: bigint;
  /** registration order: the `$all` position of its registration */
  seq: number;
  /** customers an unmerge keeps apart from this one */
  apart: string[];
  /** erased: no identifier resolves to it any more */
  erased: boolean;
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
 */
export class EsdbIdentityRegistry implements IdentityRegistry {
  readonly canForget = true;
  private readonly newCustomerId: () => string;
  private readonly maxAttempts: number;
  /** identifier key -> customer that claimed it (the claim stream's first event, never changes) */
  private readonly claims: FactCache;
  /** merged-away customer -> survivor (a customer is merged away at most once, never back) */
  private readonly mergedInto: FactCache;
  private readonly index: IdentifierIndex;
  /** identifier key -> revision of the release ending its claim stream (a new claim appends exactly after it) */
  private readonly released = new Map<string, bigint>();

  constructor(
    private readonly client: EventStoreDBClient,
    options: EsdbIdentityRegistryOptions = {},
  ) {
    this.newCustomerId = options.newCustomerId ?? randomUUID;
    this.maxAttempts = options.maxAttempts ?? 20;
    this.claims = new FactCache(options.factCacheSize ?? 100_000);
    this.mergedInto = new FactCache(options.factCacheSize ?? 100_000);
    this.index = options.index ?? PLAIN_IDENTIFIER_INDEX;
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
   * Resolves the requests one after the other. Live customers read during the batch are remembered
   * until its end (a batch names the same customers many times): a later request of the batch may so
   * be resolved to a customer another instance has merged away meanwhile, which is the same race as a
   * merge landing between a read and the append, and ends the same way (the events follow the merge;
   * merging that customer again fails its compare-and-set and re-reads).
   */
  async resolveBatch(requests: ResolveRequest[]): Promise<Resolution[]> {
    const out: Resolution[] = [];
    const live = new Map<string, CustomerState>();
    for (const req of requests) out.push(await this.resolveOne(req, live));
    return out;
  }

  private async resolveOne(req: ResolveRequest, live = new Map<string, CustomerState>()): Promise<Resolution> {
    const keys = [...new Set(req.identifiers.map(this.index.keyOf))].sort();
    const merges: PendingMerge[] = [];
    for (let attempt = 1; ; attempt++) {
      try {
        const resolution = await this.tryResolve(req, keys, merges, live);
        return { ...resolution, merges };
      } catch (err) {
        if (!(err instanceof Contended) || attempt >= this.maxAttempts) {
          if (err instanceof Contended)
            throw new StoreUnavailableError(`identity resolution stayed contended after ${attempt} attempts; retry`);
          throw err;
        }
        // lost a race: what this batch remembers may be stale, the retry reads afresh
        live.clear();
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
      }
    }
  }

  private async tryResolve(
    req: ResolveRequest,
    keys: string[],
    merges: PendingMerge[],
    live: Map<string, CustomerState>,
  ): Promise<Omit<Resolution, 'merges'>> {
    const owners = await Promise.all(keys.map((k) => this.owner(k)));
    const unclaimed = keys.filter((_, i) => owners[i] === undefined);
    const states = new Map<string, { state: CustomerState; keys: string[] }>();
    const resolved = await Promise.all(owners.map((o) => (o === undefined ? undefined : this.follow(o, live))));
    const erased = keys.filter((_, i) => resolved[i]?.erased);
    if (erased.length > 0) {
      // a claim still naming an erased customer (remembered by this instance, or claimed for an event
      // that never landed): released now, and the request resolved again
      for (const key of erased) await this.release(key, async (owner) => (await this.follow(owner))?.erased === true);
      throw new Contended();
    }
    resolved.forEach((state, i) => {
      if (!state) return;
      const entry = states.get(state.customerId) ?? { state, keys: [] };
      entry.keys.push(keys[i]);
      states.set(state.customerId, entry);
    });

    if (states.size === 0) {
      const customerId = this.newCustomerId();
      await this.append(registryCustomerStream(customerId), REGISTERED, { registeredAt: new Date().toISOString() }, NO_STREAM);
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
      for (const id of done) {
        this.mergedInto.set(id, survivorId);
        live.delete(id);
      }
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
      keys.map((k) => this.append(identifierStream(k), CLAIMED, { customerId }, this.released.get(k) ?? NO_STREAM)),
    );
    keys.forEach((k, i) => {
      if (results[i].status !== 'fulfilled') return;
      this.claims.set(k, customerId);
      this.released.delete(k);
    });
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason instanceof WrongRevision ? new Contended() : failed.reason;
  }

  /**
   * Appends one registry event. A write that fails as unavailable may have been committed (the
   * server answers "timed out" after committing): it is retried a few times with the same event id
   * and the same expected revision, which the server recognises as the same write for `no_stream` and
   * exact revisions, so a merge or claim that landed is never reported as failed and then forgotten.
   * A `no_stream` write answered past revision 0 landed on a stream an operator had soft-deleted.
   */
  private async append(stream: string, type: string, data: object, expectedRevision: bigint | 'no_stream' | 'any'): Promise<bigint> {
    const event = jsonEvent({ id: randomUUID(), type, data: data as never });
    for (let attempt = 1; ; attempt++) {
      let revision: bigint;
      try {
        revision = (await this.client.appendToStream(stream, event, { expectedRevision })).nextExpectedRevision;
      } catch (err) {
        if (isWrongExpectedVersion(err)) throw new WrongRevision(stream);
        const mapped = mapEsdbError(err, stream);
        if (!(mapped instanceof StoreUnavailableError) || attempt >= 3) throw mapped;
        await new Promise((r) => setTimeout(r, 50 * attempt));
        continue;
      }
      if (expectedRevision === NO_STREAM && revision !== 0n) throw deletedRegistryStream(stream);
      return revision;
    }
  }

  private async read(stream: string, direction: 'forwards' | 'backwards', maxCount: number) {
    try {
      const out = [];
      for await (const r of this.client.readStream(stream, {
        direction: direction === 'forwards' ? FORWARDS : BACKWARDS,
        fromRevision: direction === 'forwards' ? START : END,
        maxCount,
        // the registry decides claims and merges from what it reads: only the leader's view will do
        requiresLeader: true,
      })) {
        if (r.event) out.push(r.event);
      }
      return out;
    } catch (err) {
      if (isStreamNotFound(err)) return [];
      throw mapEsdbError(err, stream);
    }
  }

  /** the customer that claimed this identifier key (before following merges) */
  private async owner(key: string): Promise<string | undefined> {
    const known = this.claims.get(key);
    if (known !== undefined) return known;
    // the claim, then any moves an unmerge made (rare: the stream is one event long otherwise)
    const events = await this.read(identifierStream(key), 'forwards', Number.MAX_SAFE_INTEGER);
    if (events.length === 0) return undefined;
    if (events[0].revision !== 0n) throw deletedRegistryStream(identifierStream(key));
    const last = events[events.length - 1];
    if (last.type === RELEASED) {
      this.released.set(key, last.revision);
      return undefined;
    }
    const owner = (last.data as { customerId: string }).customerId;
    this.claims.set(key, owner);
    return owner;
  }

  /** follows merges to the live customer; undefined for an id the registry never issued */
  private async follow(customerId: string, live?: Map<string, CustomerState>): Promise<CustomerState | undefined> {
    let state: CustomerState | undefined;
    await followMergeChainAsync(customerId, async (id) => {
      const survivor = this.mergedInto.get(id);
      if (survivor !== undefined) return survivor;
      state = live?.get(id);
      if (state) return null;
      // registered, merged into at most one survivor at a time; an unmerge makes it live again
      const events = await this.read(registryCustomerStream(id), 'forwards', Number.MAX_SAFE_INTEGER);
      if (events.length === 0) return undefined;
      if (events[0].revision !== 0n) throw deletedRegistryStream(registryCustomerStream(id));
      let survivorId: string | undefined;
      const apart: string[] = [];
      let erased = false;
      for (const e of events) {
        if (e.type === ERASED) erased = true;
        if (e.type === MERGED_INTO) survivorId = (e.data as { survivorId: string }).survivorId;
        else if (e.type === UNMERGED) survivorId = undefined;
        else if (e.type === KEPT_APART) apart.push((e.data as { otherId: string }).otherId);
      }
      if (survivorId !== undefined) {
        this.mergedInto.set(id, survivorId);
        return survivorId;
      }
      const last = events[events.length - 1];
      state = { customerId: id, revision: last.revision, seq: Number(events[0].position?.commit ?? 0), apart, erased };
      live?.set(id, state);
      return null;
    });
    return state;
  }

  /**
   * Idempotent by unmergeId: the split customer's `CustomerUnmerged` (naming it) is appended last, so
   * a move interrupted half way is completed by running it again. The survivor's `CustomerKeptApart`
   * changes its revision, so a merge of the survivor decided concurrently loses its compare-and-set
   * and is resolved again (and sees the pair kept apart).
   */
  async unmerge(moves: UnmergeMove[]): Promise<void> {
    for (const m of moves) {
      const events = await this.read(registryCustomerStream(m.splitId), 'forwards', Number.MAX_SAFE_INTEGER);
      if (events.some((e) => e.type === UNMERGED && (e.data as { unmergeId?: string }).unmergeId === m.unmergeId)) continue;
      const own = async (ids: Identifier[], customerId: string) => {
        for (const id of ids) {
          const key = this.index.keyOf(id);
          await this.append(identifierStream(key), MOVED, { customerId }, 'any');
          this.claims.delete(key);
        }
      };
      await own(m.identifiers, m.splitId);
      await own(m.keptBySurvivor, m.survivorId);
      await this.append(registryCustomerStream(m.survivorId), KEPT_APART, { otherId: m.splitId }, 'any');
      await this.append(registryCustomerStream(m.splitId), KEPT_APART, { otherId: m.survivorId }, 'any');
      await this.append(registryCustomerStream(m.splitId), UNMERGED, { unmergeId: m.unmergeId, survivorId: m.survivorId }, 'any');
      this.mergedInto.delete(m.splitId);
      // the customers merged into the split customer point at it already (chains are followed, not re-pointed)
    }
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

  async pendingMerges(): Promise<PendingMerge[]> {
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

  async lookup(identifier: Identifier): Promise<string | undefined> {
    const owner = await this.owner(this.index.keyOf(identifier));
    const state = owner === undefined ? undefined : await this.follow(owner);
    return state?.erased ? undefined : state?.customerId;
  }

  async canonicalId(customerId: string): Promise<string | undefined> {
    return (await this.follow(customerId))?.customerId;
  }

  /**
   * Erasure on append-only streams: each identifier's claim stream gets an `IdentifierReleased` (the
   * owner is the last event, so it no longer resolves, and a later event naming it claims it anew after
   * the release, for a new customer), then each customer's registry stream a `CustomerErased`, so a
   * claim this method was not told of (or another instance still remembers) is released when met.
   * The registry cannot list a customer's identifiers itself: the erasure passes those its events
   * name. Releases compare-and-set on the claim stream; idempotent. Stream names and merge evidence
   * are identifier keys: plaintext unless the registry is keyed by the blind index (docs/privacy.md).
   */
  async forgetCustomers(customerIds: string[], identifiers: Identifier[] = []): Promise<number> {
    const ids = new Set(customerIds);
    const erasedOwner = async (owner: string) => ids.has(owner) || ids.has((await this.follow(owner))?.customerId ?? '');
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
      this.claims.delete(key);
      const events = await this.read(identifierStream(key), 'forwards', Number.MAX_SAFE_INTEGER);
      const last = events[events.length - 1];
      if (!last || last.type === RELEASED) return false;
      const owner = (last.data as { customerId: string }).customerId;
      if (!(await isErased(owner))) return false;
      try {
        this.released.set(key, await this.append(identifierStream(key), RELEASED, { releasedFrom: owner }, last.revision));
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
    onProgress?.(total, total);
  }

  /** Appends events to a registry stream in one write (restore: nothing else writes the registry yet). */
  private async appendAll(stream: string, events: { type: string; data: object }[]): Promise<void> {
    try {
      await this.client.appendToStream(
        stream,
        events.map((e) => jsonEvent({ id: randomUUID(), type: e.type, data: e.data as never })),
        { expectedRevision: 'any' },
      );
    } catch (err) {
      throw mapEsdbError(err, stream);
    }
  }

  /** The client belongs to whoever created it (usually shared with the event store adapter). */
  async close(): Promise<void> {}
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
