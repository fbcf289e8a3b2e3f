/**
 * The event store port. Two adapters implement it (embedded SQLite, EventStoreDB) and both must pass
 * the shared contract suite in ./contract. Positions in the global log are opaque, increasing numbers:
 * a checkpoint is "the position of the last event handled", and reads resume strictly after it.
 */

/** `any`: no check; `no_stream`: must not exist; `stream_exists`: must exist; a number: the stream's last revision. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface EventData {
  /** UUID chosen by the writer; the idempotency key across the whole store */
  eventId: string;
  type: string;
  data: unknown;
  metadata?: Record<string, unknown>;
}

export interface RecordedEvent<D = unknown, M = Record<string, unknown>> {
  eventId: string;
  type: string;
  streamId: string;
  /** 0-based position within the stream */
  revision: number;
  /** position in the global log */
  position: number;
  data: D;
  metadata: M;
  /** ISO-8601 instant the store recorded it */
  recordedAt: string;
}

export interface AppendedEvent {
  eventId: string;
  revision: number;
  position: number;
  /** true when this eventId was already stored with the same content and nothing was written */
  duplicate: boolean;
}

export interface AppendResult {
  streamId: string;
  /** the stream's last revision after the append */
  nextExpectedRevision: number;
  events: AppendedEvent[];
}

export interface StreamWrite {
  streamId: string;
  events: EventData[];
  expectedRevision?: ExpectedRevision;
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards';
  /** inclusive; default: the start (forwards) or the end (backwards) */
  fromRevision?: number;
  maxCount?: number;
}

export interface ReadAllOptions {
  /** exclusive: only events after this position (a checkpoint); default: from the beginning */
  after?: number;
  maxCount?: number;
}

export type SubscriptionMessage =
  | { type: 'events'; events: RecordedEvent[] }
  /** every event up to `position` has been delivered; later messages are live */
  | { type: 'caught-up'; position: number };

export interface SubscribeOptions {
  /** exclusive checkpoint; default: from the beginning */
  after?: number;
  /** largest batch handed out at once */
  batchSize?: number;
}

export interface Subscription extends AsyncIterable<SubscriptionMessage> {
  /** stops the subscription; a pending iteration ends */
  close(): Promise<void>;
}

export interface EventStoreCapabilities {
  /** appendMany writes all streams or none */
  atomicMultiStreamAppend: boolean;
  /**
   * Every read (readStream, readAll, a subscription's pages) gives new objects that nothing else holds
   * (parsed from the stored bytes per call), so a reader may change them in place (the encrypting
   * decorator opens sealed values in place instead of copying each event). Absent: not promised.
   */
  freshReads?: boolean;
}

export interface EventStore {
  readonly capabilities: EventStoreCapabilities;
  appendToStream(streamId: string, events: EventData[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult>;
  /** several streams at once: atomic when `capabilities.atomicMultiStreamAppend`, otherwise in order */
  appendMany(writes: StreamWrite[]): Promise<AppendResult[]>;
  /** throws StreamNotFoundError for a stream that does not exist */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** last revision of each stream; -1 for streams that do not exist */
  streamRevisions(streamIds: string[]): Promise<Map<string, number>>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** catch-up subscription to the global log that turns live once caught up */
  subscribeToAll(options?: SubscribeOptions): Subscription;
  /** position of the last event in the global log; 0 when empty */
  headPosition(): Promise<number>;
  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EVENT_STORE');
