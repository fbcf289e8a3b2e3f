import { customerIdOfStream, PLAIN_IDENTIFIER_INDEX, type IdentifierIndex } from '@cem/domain';
import {
  canonicalJson,
  StreamNotFoundError,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionMessage,
} from '@cem/event-store';
import { FIELD_SEALED_PREFIX, IDENTIFIER_FIELD, isSealed, type DataKey } from './cipher/data-key';
import { HmacSha256 } from './cipher/hmac-sha256';
import { isIdentifierPath, mapPath, personalPathsOf, reaches, REMOVED, updatePath, type LeafFn } from './cipher/personal-paths';
import type { CustomerKeyStore, KeyLookup } from './keys/key-store';
import { KeyedStoredValues, type StoredValues } from './stored-values';

/** Metadata the encryption adds to a stored event. */
export interface EncryptionMetadata {
  /** the data key the personal values of this event are sealed with */
  keyId?: string;
  /** keyed digest of the plaintext content: the store's idempotency hash (see contentHash) */
  contentDigest?: string;
  /** set on read when the key was destroyed: the personal values are gone from this event */
  personalDataErased?: true;
  /**
   * the customer whose data key seals this event's personal values when it is not the event's own
   * customer: an unmerge's record of what moved to the customer split off (docs/identity.md)
   */
  sealedFor?: string;
}

/**
 * The stream of `personal-data.resealed` events: an unmerge's copy of the personal values of the
 * survivor's events it re-attributed to the customer split off, sealed with that customer's key.
 * Readers get those events with the copy's values (see EncryptingEventStore.open): the survivor's own
 * sealed values are superseded, so erasing the split customer removes them and erasing the survivor
 * leaves them to the split customer. Not a customer stream: the read models pass over it.
 */
export const RESEALED_STREAM = 'personal-data-resealed';

/** One event in a `personal-data.resealed` event: its id and the personal values that are the split customer's. */
export interface ResealedEventValues {
  eventId: string;
  /**
   * `{ data, identifiers }`, sealed as one value: a re-attributed event's payload and envelope
   * identifiers; or, with `identifierIndices`, only the identifiers at those indices of the envelope
   * of an event that stays with the survivor (the merge's trigger names both customers)
   */
  values: unknown;
  identifierIndices?: number[];
}

type Meta = Record<string, unknown> & EncryptionMetadata;

/**
 * The one place personal data is encrypted and decrypted: a decorator of the event store port. Every
 * write path (HTTP, Kafka, imports, the platform's own events) appends through it, so the personal
 * values the event catalogue marks (payload paths of each type, the envelope's identifiers in the
 * metadata) reach the store sealed with the customer's data key, and the key id is recorded in the
 * metadata. Every reader (projector, audit trail, as-of views, signals) reads through it and gets
 * plaintext back, or, for an erased customer, the event without its personal values and with
 * `metadata.personalDataErased`. The stores underneath (SQLite, EventStoreDB) and the hash chain see
 * only ciphertext; log export and import work on those stored bytes.
 *
 * The customer of an event is `metadata.customerId`, else the customer of its stream; an event that
 * holds no personal value is stored exactly as before (no key id).
 */
export class EncryptingEventStore implements EventStore {
  readonly capabilities;
  /** how the read models keep this log's identifiers (sealed with the customer's key, see StoredValues) */
  readonly storedValues: StoredValues;
  /** the content digests' HMAC (see sealEvent) */
  private readonly digest: HmacSha256;

  constructor(
    readonly inner: EventStore,
    private readonly keys: CustomerKeyStore,
    digestKey: Buffer,
    /**
     * How identifiers are keyed wherever they are stored to find a customer (the blind index keyed by
     * PRIVACY_INDEX_SECRET): readers of this log that index identifiers (the read models) take it from
     * here, so the index always goes with encryption
     */
    readonly identifierIndex: IdentifierIndex = PLAIN_IDENTIFIER_INDEX,
  ) {
    this.capabilities = inner.capabilities;
    this.storedValues = new KeyedStoredValues(keys);
    this.digest = new HmacSha256(digestKey);
    // the blind index remembers recent plaintext identifiers: none may outlive an erasure in memory
    keys.onErasure(() => identifierIndex.forget());
  }

  /** re-attributed event id -> the stored `personal-data.resealed` event holding its values, and its index there */
  private readonly resealed = new Map<string, { copy: RecordedEvent; index: number }>();
  /** revision of RESEALED_STREAM read so far (-1: nothing), and whether to read it again before the next open */
  private resealedRevision = -1;
  private resealedStale = true;
  private resealedRead: Promise<void> | undefined;

  async appendToStream(streamId: string, events: EventData[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult> {
    const [write] = await this.seal([{ streamId, events, expectedRevision: options?.expectedRevision }]);
    if (streamId === RESEALED_STREAM) this.resealedStale = true;
    return this.inner.appendToStream(streamId, write.events, options);
  }

  async appendMany(writes: StreamWrite[]): Promise<AppendResult[]> {
    if (writes.some((w) => w.streamId === RESEALED_STREAM)) this.resealedStale = true;
    return this.inner.appendMany(await this.seal(writes));
  }

  async readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.openRead(await this.inner.readStream(streamId, options));
  }

  streamRevisions(streamIds: string[]): Promise<Map<string, number>> {
    return this.inner.streamRevisions(streamIds);
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.openRead(await this.inner.readAll(options));
  }

  subscribeToAll(options?: SubscribeOptions): Subscription {
    const inner = this.inner.subscribeToAll(options);
    const open = (events: RecordedEvent[]) => this.openRead(events);
    return {
      close: () => inner.close(),
      async *[Symbol.asyncIterator](): AsyncGenerator<SubscriptionMessage> {
        for await (const message of inner)
          yield message.type === 'events' ? { type: 'events', events: await open(message.events) } : message;
      },
    };
  }

  headPosition(): Promise<number> {
    return this.inner.headPosition();
  }

  async close(): Promise<void> {
    await this.inner.close();
    await this.keys.close();
  }

  /** The stored form of the writes: personal values sealed with their customer's key. */
  async seal(writes: StreamWrite[]): Promise<StreamWrite[]> {
    const owners = new Map<EventData, string>();
    for (const w of writes) {
      for (const e of w.events) {
        const customerId = keyOwnerOf(e.metadata, w.streamId);
        if (customerId !== undefined && holdsPersonalData(e)) owners.set(e, customerId);
      }
    }
    if (owners.size === 0) return writes;
    const keys = await this.keys.keysFor([...owners.values()]);
    return writes.map((w) => ({
      ...w,
      events: w.events.map((e) => {
        const customerId = owners.get(e);
        return customerId === undefined ? e : this.sealEvent(e, keys.get(customerId)!);
      }),
    }));
  }

  /**
   * Stored events as readers see them: sealed values opened, or removed when their key was destroyed.
   * The events given are left as they are (what is opened is copied).
   */
  open(events: RecordedEvent[]): Promise<RecordedEvent[]> {
    return this.openEvents(events, false);
  }

  /**
   * What this store's own reads answer: events the inner store has just parsed for this read alone
   * (`freshReads`) are opened in place, without a copy of each event (and none to collect).
   */
  private openRead(events: RecordedEvent[]): Promise<RecordedEvent[]> {
    return this.openEvents(events, this.inner.capabilities.freshReads === true);
  }

  private async openEvents(events: RecordedEvent[], inPlace: boolean): Promise<RecordedEvent[]> {
    // an unmerge among them: its copy (appended right after it, maybe by another process) is read first
    if (this.resealedStale || events.some((e) => e.type === 'customers.unmerged')) await this.readResealed();
    const keyIds = new Set<string>();
    for (const e of events) {
      const keyId = (e.metadata as Meta | undefined)?.keyId;
      if (typeof keyId === 'string') keyIds.add(keyId);
      const copyKeyId = this.resealed.size > 0 ? (this.resealed.get(e.eventId)?.copy.metadata as Meta | undefined)?.keyId : undefined;
      if (typeof copyKeyId === 'string') keyIds.add(copyKeyId);
    }
    if (keyIds.size === 0) return events;
    const keys = await this.keys.keysById([...keyIds]);
    // in place: updatePath changes the parsed objects; otherwise mapPath copies what it opens and shares the rest
    const walk = inPlace ? updatePath : mapPath;
    const out = inPlace ? events : new Array<RecordedEvent>(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const keyId = (e.metadata as Meta | undefined)?.keyId;
      const copy = typeof keyId === 'string' && this.resealed.size > 0 ? this.resealed.get(e.eventId) : undefined;
      out[i] =
        typeof keyId !== 'string'
          ? e
          : copy
            ? openResealed(e, copy, keys.get(keyId)!, keys)
            : openEvent(e, keys.get(keyId)!, walk, inPlace);
    }
    return out;
  }

  /** Reads what RESEALED_STREAM gained since the last read (one read at a time). */
  private readResealed(): Promise<void> {
    if (this.resealedRead) return this.resealedRead;
    const read = (async () => {
      try {
        this.resealedStale = false;
        let copies: RecordedEvent[] = [];
        try {
          copies = await this.inner.readStream(RESEALED_STREAM, { fromRevision: this.resealedRevision + 1 });
        } catch (e) {
          if (!(e instanceof StreamNotFoundError)) throw e;
        }
        for (const copy of copies) {
          this.resealedRevision = Math.max(this.resealedRevision, copy.revision);
          const entries = (copy.data as { events?: ResealedEventValues[] }).events ?? [];
          for (const [index, entry] of entries.entries()) this.resealed.set(entry.eventId, { copy, index });
        }
      } catch (e) {
        this.resealedStale = true;
        throw e;
      }
    })().finally(() => {
      if (this.resealedRead === read) this.resealedRead = undefined;
    });
    this.resealedRead = read;
    return read;
  }

  private sealEvent(e: EventData, key: DataKey): EventData {
    const paths = personalPathsOf(e.type);
    const metadata = (e.metadata ?? {}) as Meta;
    const contentDigest = `hmac-sha256:${this.digest.mac(`${e.type}\n${canonicalJson(e.data)}\n${String(metadata.occurredAt ?? '')}`, 'base64')}`;
    let data = e.data;
    for (const pattern of paths.data)
      data = mapPath(data, pattern, isIdentifierPath(pattern) ? key.sealIdentifier : sealerOf(key, e.eventId), 'data');
    // identifiers repeat on every event of a customer: sealed per field, not per event (see FIELD_SEALED_PREFIX)
    let sealedMeta: unknown = metadata;
    for (const pattern of paths.metadata) sealedMeta = mapPath(sealedMeta, pattern, key.sealIdentifier, 'metadata');
    // mapPath copied the metadata when it sealed something in it: that copy takes the digest and key id
    // (last, as the spread did before); otherwise one copy is made here
    const out = (sealedMeta === metadata ? { ...metadata } : sealedMeta) as Meta;
    out.contentDigest = contentDigest;
    out.keyId = key.keyId;
    return { ...e, data, metadata: out };
  }
}

/** The leaf function sealing one event's values per place (event id, NUL, field path). */
const sealerOf =
  (key: DataKey, eventId: string): LeafFn =>
  (value, path) =>
    key.seal(value, `${eventId}\0${path}`);

/** The customer whose key seals an event: `metadata.sealedFor` when set, else the event's customer. */
function keyOwnerOf(metadata: Record<string, unknown> | undefined, streamId: string): string | undefined {
  const sealedFor = metadata?.sealedFor;
  if (typeof sealedFor === 'string' && sealedFor !== '') return sealedFor;
  const id = metadata?.customerId;
  return typeof id === 'string' && id !== '' ? id : customerIdOfStream(streamId);
}

function holdsPersonalData(e: EventData): boolean {
  const paths = personalPathsOf(e.type);
  return paths.data.some((p) => reaches(e.data, p)) || paths.metadata.some((p) => reaches(e.metadata, p));
}

/**
 * A re-attributed event read with the values of its unmerge's copy (sealed with the split customer's
 * key), not its own (sealed with the survivor's): as erased when the split customer's key is gone.
 */
function openResealed(
  e: RecordedEvent,
  { copy, index }: { copy: RecordedEvent; index: number },
  ownKey: KeyLookup,
  keys: Map<string, KeyLookup>,
): RecordedEvent {
  const copyKeyId = (copy.metadata as Meta | undefined)?.keyId;
  const key = typeof copyKeyId === 'string' ? keys.get(copyKeyId)! : undefined;
  const entry = (copy.data as { events: ResealedEventValues[] }).events[index] ?? { values: undefined };
  const values = (
    key === 'destroyed'
      ? undefined
      : key && isSealed(entry.values)
        ? key.open(entry.values, `${copy.eventId}\0data.events.${index}.values`)
        : entry.values
  ) as { data?: unknown; identifiers?: unknown[] } | undefined;
  const { identifiers: stored, ...metadata } = (e.metadata ?? {}) as Meta & { identifiers?: unknown[] };
  if (entry.identifierIndices) {
    // the survivor's event: its own values with its own key, the split customer's identifiers from the copy
    const moved = new Set(entry.identifierIndices);
    const own = openEvent(
      { ...e, metadata: { ...metadata, identifiers: (stored ?? []).filter((_, i) => !moved.has(i)) } },
      ownKey,
      mapPath,
      false,
    );
    const ownIds = ((own.metadata as { identifiers?: unknown[] }).identifiers ?? []) as unknown[];
    return { ...own, metadata: { ...own.metadata, identifiers: [...ownIds, ...(values?.identifiers ?? [])] } };
  }
  if (values === undefined) return openEvent(e, 'destroyed', mapPath, false);
  return {
    ...e,
    data: values.data,
    metadata: values.identifiers === undefined ? metadata : { ...metadata, identifiers: values.identifiers },
  };
}

/**
 * An event with its sealed values opened (removed when the key was destroyed): in place with
 * `updatePath` (an event parsed for this read alone), otherwise a copy with `mapPath`.
 */
function openEvent(e: RecordedEvent, key: KeyLookup, walk: typeof mapPath, inPlace: boolean): RecordedEvent {
  const paths = personalPathsOf(e.type);
  const open: LeafFn = (value, path) => {
    if (!isSealed(value)) return value; // written in plaintext before encryption was switched on
    if (key === 'destroyed') return REMOVED;
    return value.startsWith(FIELD_SEALED_PREFIX) ? key.openField(value, IDENTIFIER_FIELD) : key.open(value, `${e.eventId}\0${path}`);
  };
  let data: unknown = e.data;
  for (const p of paths.data) data = walk(data, p, open, 'data');
  let metadata = e.metadata as unknown;
  for (const p of paths.metadata) metadata = walk(metadata, p, open, 'metadata');
  const erased = key === 'destroyed';
  if (inPlace) {
    const target = e as { data: unknown; metadata: Meta };
    target.data = data;
    target.metadata = metadata as Meta;
    if (erased) target.metadata.personalDataErased = true;
    return e;
  }
  return { ...e, data, metadata: erased ? { ...(metadata as Meta), personalDataErased: true } : (metadata as Meta) };
}
