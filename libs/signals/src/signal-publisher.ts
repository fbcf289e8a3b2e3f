import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { EventStore, RecordedEvent } from '@cem/event-store';
import { CheckpointedSubscriber, toProjectedRecord, type CustomerHistory } from '@cem/read-models';
import { customerHistoryOf } from '@cem/read-models/audit';
import { deriveSignals, SignalWorkingSet } from './derive';
import { toKafkaMessage, type CustomerSignal } from './signal.schema';
import type { SignalStateStore } from './signal-state.store';

/** What the publisher reads of the signals configuration (libs/config validates it at boot). */
export interface SignalsPublisherConfig {
  topic: string;
  partitions: number;
  createTopics: boolean;
  batchSize: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

/** The logging the publisher does: error kinds and positions, never event data. */
export interface SignalsLogger {
  error(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

export interface SignalPublisherStats {
  status: 'stopped' | 'starting' | 'catching-up' | 'live' | 'retrying' | 'held';
  /** checkpoint: every signal of the log up to here is acknowledged by the broker */
  position: number;
  batches: number;
  signals: number;
  failures: number;
  lastError: string | null;
}

export interface SignalPublisherHooks {
  /** after the broker acknowledged a batch's signals, before the checkpoint is stored (tests) */
  afterSend?: (signals: readonly CustomerSignal[], totalSent: number) => Promise<void> | void;
}

/** Messages per produce request; a batch larger than this is sent in several acknowledged requests. */
const SEND_CHUNK = 1000;

/**
 * The checkpointed publisher of customer signals (the outbox pattern on top of the event log): a
 * worker of the platform's CheckpointedSubscriber, from its own checkpoint; each batch of events is turned
 * into signals (derive.ts), produced with an idempotent producer and acks=all, and only once the
 * broker acknowledged them are the changed customer states and the new checkpoint committed in one
 * SQLite transaction. A crash between the two republishes the batch on restart with the same
 * signalIds and contents (at-least-once; consumers dedupe on signalId). Any failure (broker down,
 * store error) restarts from the stored checkpoint after a capped exponential backoff.
 */
export class CustomerSignalPublisher {
  private producer?: Producer;
  private readonly subscriber: CheckpointedSubscriber;
  private starting = false;
  private sent = 0;
  private batches = 0;
  private signals = 0;
  /** a customer's log, for the refold of an unmerge's customers */
  private readonly history: CustomerHistory;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: SignalsPublisherConfig,
    private readonly store: EventStore,
    private readonly states: SignalStateStore,
    private readonly logger: SignalsLogger,
    private readonly hooks: SignalPublisherHooks = {},
  ) {
    this.history = customerHistoryOf(store);
    this.subscriber = new CheckpointedSubscriber(
      store,
      {
        name: 'customer-signals',
        open: async () => this.states.checkpoint().position,
        handle: (events) => this.publishBatch(events),
        // each batch commits once the broker acknowledged it: nothing is ever left open
        flush: async () => undefined,
        abort: async () => undefined,
      },
      {
        batchSize: config.batchSize,
        retryDelayMs: config.retryInitialMs,
        maxRetryDelayMs: config.retryMaxMs,
        logger: {
          error: (m: unknown) => this.logger.error('signal batch failed; retrying from the checkpoint', m as Record<string, unknown>),
        },
      },
    );
  }

  get stats(): SignalPublisherStats {
    const h = this.subscriber.health;
    return {
      status: this.starting ? 'starting' : h.status,
      position: h.position,
      batches: this.batches,
      signals: this.signals,
      failures: h.failures,
      lastError: h.lastError ?? null,
    };
  }

  /** Connects, checks (or creates) the topic, and starts publishing in the background. */
  async start(): Promise<void> {
    this.starting = true;
    const stored = this.states.checkpoint();
    if (stored.topic !== null && stored.topic !== this.config.topic) {
      throw new Error(
        `the signals state was published to ${stored.topic}, not ${this.config.topic}: use a new SIGNALS_DB_FILE to publish the log to another topic`,
      );
    }
    await this.ensureTopic();
    // idempotent (no broker-side duplicates from the producer's own retries), ordered per partition,
    // retrying until the broker is back (a stop() disconnects and ends a pending send)
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 30_000 },
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();
    this.starting = false;
    this.subscriber.start();
  }

  async stop(): Promise<void> {
    // first: ends a send that is still retrying (its batch is not checkpointed, so it is sent again on restart)
    const stopping = this.subscriber.stop();
    await this.producer?.disconnect().catch(() => undefined);
    await stopping.catch(() => undefined);
  }

  /** Resolves once every event up to `position` (default: the log's head now) is published and checkpointed. */
  async whenPublished(position?: number, timeoutMs = 60_000): Promise<boolean> {
    return this.subscriber.whenCaughtUp(position ?? (await this.store.headPosition()), timeoutMs);
  }

  private async ensureTopic(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      if (existing.has(this.config.topic)) return;
      if (!this.config.createTopics)
        throw new Error(`topic ${this.config.topic} does not exist (create it, or set KAFKA_CREATE_TOPICS=true in development)`);
      await admin.createTopics({ topics: [{ topic: this.config.topic, numPartitions: this.config.partitions }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }

  /** Derives, sends and (once acknowledged) commits one batch; returns the committed position. */
  private async publishBatch(events: readonly RecordedEvent[]): Promise<number> {
    const ws = new SignalWorkingSet(this.states);
    const records = events.map(toProjectedRecord);
    // an unmerge refolds its customers from their log before it
    await ws.preloadHistories(records, this.history);
    const signals: CustomerSignal[] = [];
    for (const record of records) signals.push(...deriveSignals(ws, record));
    for (let i = 0; i < signals.length; i += SEND_CHUNK) {
      await this.producer!.send({ topic: this.config.topic, acks: -1, messages: signals.slice(i, i + SEND_CHUNK).map(toKafkaMessage) });
    }
    this.sent += signals.length;
    await this.hooks.afterSend?.(signals, this.sent);
    const last = events[events.length - 1].position;
    this.states.commit(ws.changedStates(), last, this.config.topic);
    this.batches++;
    this.signals += signals.length;
    this.logger.debug('signals published', { position: last, events: events.length, signals: signals.length });
    return last;
  }
}
