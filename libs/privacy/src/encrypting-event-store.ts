import { createHmac } from 'node:crypto';
import { customerIdOfStream, PLAIN_IDENTIFIER_INDEX, type IdentifierIndex } from '@cem/domain';
import {
  canonicalJson,
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
import { isIdentifierPath, mapPath, personalPathsOf, reaches, REMOVED, type PathPattern } from './cipher/personal-paths';
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

  constructor(
    readonly inner: EventStore,
    private readonly keys: CustomerKeyStore,
    private readonly digestKey: Buffer,
    /**
     * How identifiers are keyed wherever they are stored to find a customer (the blind index keyed by
     * PRIVACY_INDEX_SECRET): readers of this log that index identifiers (the read models) take it from
     * here, so the index always goes with encryption
     */
    readonly identifierIndex: IdentifierIndex = PLAIN_IDENTIFIER_INDEX,
  ) {
    this.capabilities = inner.capabilities;
    this.storedValues = new KeyedStoredValues(keys);
    // the blind index remembers recent plaintext identifiers: none may outlive an erasure in memory
    keys.onErasure(() => identifierIndex.forget());
  }

  async appendToStream(streamId: string, events: EventData[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult> {
    const [write] = await this.seal([{ streamId, events, expectedRevision: options?.expectedRevision }]);
    return this.inner.appendToStream(streamId, write.events, options);
  }

  async appendMany(writes: StreamWrite[]): Promise<AppendResult[]> {
    return this.inner.appendMany(await this.seal(writes));
  }

  async readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.open(await this.inner.readStream(streamId, options));
  }

  streamRevisions(streamIds: string[]): Promise<Map<string, number>> {
    return this.inner.streamRevisions(streamIds);
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.open(await this.inner.readAll(options));
  }

  subscribeToAll(options?: SubscribeOptions): Subscription {
    const inner = this.inner.subscribeToAll(options);
    const open = (events: RecordedEvent[]) => this.open(events);
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
        const customerId = customerOf(e.metadata, w.streamId);
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

  /** Stored events as readers see them: sealed values opened, or removed when their key was destroyed. */
  async open(events: RecordedEvent[]): Promise<RecordedEvent[]> {
    const keyIds = new Set<string>();
    for (const e of events) {
      const keyId = (e.metadata as Meta | undefined)?.keyId;
      if (typeof keyId === 'string') keyIds.add(keyId);
    }
    if (keyIds.size === 0) return events;
    const keys = await this.keys.keysById([...keyIds]);
    return events.map((e) => {
      const keyId = (e.metadata as Meta | undefined)?.keyId;
      return typeof keyId === 'string' ? openEvent(e, keys.get(keyId)!) : e;
    });
  }

  private sealEvent(e: EventData, key: DataKey): EventData {
    const paths = personalPathsOf(e.type);
    const seal = (value: unknown, path: string) => key.seal(value, `${e.eventId}\0${path}`);
    const metadata = (e.metadata ?? {}) as Meta;
    const contentDigest = `hmac-sha256:${createHmac('sha256', this.digestKey)
      .update(`${e.type}\n${canonicalJson(e.data)}\n${String(metadata.occurredAt ?? '')}`)
      .digest('base64')}`;
    // identifiers repeat on every event of a customer: sealed per field, not per event (see FIELD_SEALED_PREFIX)
    const sealIdentifier = (value: unknown) => key.sealField(value, IDENTIFIER_FIELD);
    const sealAll = (root: unknown, patterns: readonly PathPattern[], prefix: string) =>
      patterns.reduce((node, pattern) => mapPath(node, pattern, isIdentifierPath(pattern) ? sealIdentifier : seal, prefix), root);
    const data = sealAll(e.data, paths.data, 'data');
    // one copy of the metadata (mapPath copies only what it changes); the digest and key id go last, as before
    const sealedMeta = sealAll(metadata, paths.metadata, 'metadata') as Meta;
    return { ...e, data, metadata: { ...sealedMeta, contentDigest, keyId: key.keyId } };
  }
}

function customerOf(metadata: Record<string, unknown> | undefined, streamId: string): string | undefined {
  const id = metadata?.customerId;
  return typeof id === 'string' && id !== '' ? id : customerIdOfStream(streamId);
}

function holdsPersonalData(e: EventData): boolean {
  const paths = personalPathsOf(e.type);
  return paths.data.some((p) => reaches(e.data, p)) || paths.metadata.some((p) => reaches(e.metadata, p));
}

function openEvent(e: RecordedEvent, key: KeyLookup): RecordedEvent {
  const paths = personalPathsOf(e.type);
  const open = (value: unknown, path: string) => {
    if (!isSealed(value)) return value; // written in plaintext before encryption was switched on
    if (key === 'destroyed') return REMOVED;
    return value.startsWith(FIELD_SEALED_PREFIX) ? key.openField(value, IDENTIFIER_FIELD) : key.open(value, `${e.eventId}\0${path}`);
  };
  const apply = (root: unknown, patterns: readonly PathPattern[], prefix: string) =>
    patterns.reduce((node, p) => mapPath(node, p, open, prefix), root);
  const metadata = apply(e.metadata, paths.metadata, 'metadata') as Meta;
  return {
    ...e,
    data: apply(e.data, paths.data, 'data'),
    metadata: key === 'destroyed' ? { ...metadata, personalDataErased: true } : metadata,
  };
}
