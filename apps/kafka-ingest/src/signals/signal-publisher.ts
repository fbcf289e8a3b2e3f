import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { EventStore, RecordedEvent, Subscription } from '@cem/event-store';
import { toProjectedRecord } from '@cem/read-models';
import type { Logger } from '../logger';
import { deriveSignals, SignalWorkingSet } from './derive';
import { toKafkaMessage, type CustomerSignal } from './signal.schema';
import type { SignalStateStore } from './signal-state.store';
import type { SignalsConfig } from './signals.config';

export interface SignalPublisherStats {
  status: 'stopped' | 'starting' | 'catching-up' | 'live' | 'retrying';
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
 * catch-up subscription to the global log from its own checkpoint; each batch of events is turned
 * into signals (derive.ts), produced with an idempotent producer and acks=all, and only once the
 * broker acknowledged them are the changed customer states and the new checkpoint committed in one
 * SQLite transaction. A crash between the two republishes the batch on restart with the same
 * signalIds and contents (at-least-once; consumers dedupe on signalId). Any failure (broker down,
 * store error) restarts from the stored checkpoint after a capped exponential backoff.
 */
export class CustomerSignalPublisher {
  private producer?: Producer;
  private subscription?: Subscription;
  private stopping = false;
  private running?: Promise<void>;
  private sent = 0;
  private caughtUpListeners: ((position: number) => void)[] = [];
  readonly stats: SignalPublisherStats = { status: 'stopped', position: 0, batches: 0, signals: 0, failures: 0, lastError: null };

  constructor(
    private readonly kafka: Kafka,
    private readonly config: SignalsConfig,
    private readonly store: EventStore,
    private readonly states: SignalStateStore,
    private readonly logger: Logger,
    private readonly hooks: SignalPublisherHooks = {},
  ) {}

  /** Connects, checks (or creates) the topic, and starts publishing in the background. */
  async start(): Promise<void> {
    this.stats.status = 'starting';
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
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.subscription?.close().catch(() => undefined);
    // first: ends a send that is still retrying (its batch is not checkpointed, so it is sent again on restart)
    await this.producer?.disconnect().catch(() => undefined);
    await this.running?.catch(() => undefined);
    this.stats.status = 'stopped';
  }

  /** Resolves once every event up to `position` (default: the log's head now) is published and checkpointed. */
  async whenPublished(position?: number, timeoutMs = 60_000): Promise<boolean> {
    const target = position ?? (await this.store.headPosition());
    if (this.stats.position >= target) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.caughtUpListeners = this.caughtUpListeners.filter((l) => l !== listener);
        resolve(false);
      }, timeoutMs);
      const listener = (p: number) => {
        if (p < target) return;
        clearTimeout(timer);
        this.caughtUpListeners = this.caughtUpListeners.filter((l) => l !== listener);
        resolve(true);
      };
      this.caughtUpListeners.push(listener);
    });
  }

  private async ensureTopic(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      if (existing.has(this.config.topic)) return;
      if (!this.config.createTopics) throw new Error(`topic ${this.config.topic} does not exist (create it, or set KAFKA_CREATE_TOPICS=true in development)`);
      await admin.createTopics({ topics: [{ topic: this.config.topic, numPartitions: this.config.partitions }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }

  private async run(): Promise<void> {
    let delay = this.config.retryInitialMs;
    while (!this.stopping) {
      try {
        const from = this.states.checkpoint().position;
        this.advance(from);
        this.stats.status = 'catching-up';
        this.subscription = this.store.subscribeToAll({ after: from, batchSize: this.config.batchSize });
        for await (const message of this.subscription) {
          if (this.stopping) break;
          if (message.type === 'events') {
            if (message.events.length > 0) await this.publishBatch(message.events);
          } else {
            this.stats.status = 'live';
            // every event up to message.position has been delivered, and so published and checkpointed
            this.advance(Math.max(this.stats.position, message.position));
          }
          delay = this.config.retryInitialMs;
        }
        return;
      } catch (e) {
        if (this.stopping) return;
        this.stats.failures++;
        this.stats.lastError = (e as Error)?.name ?? 'Error';
        this.stats.status = 'retrying';
        // error messages may quote event data (personal data): log the kind and the position only
        this.logger.error('signal batch failed; retrying from the checkpoint', { error: this.stats.lastError, after: this.stats.position, failures: this.stats.failures, retryInMs: delay });
        await this.subscription?.close().catch(() => undefined);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.config.retryMaxMs);
      }
    }
  }

  private async publishBatch(events: RecordedEvent[]): Promise<void> {
    const ws = new SignalWorkingSet(this.states);
    const signals: CustomerSignal[] = [];
    for (const e of events) signals.push(...deriveSignals(ws, toProjectedRecord(e)));
    for (let i = 0; i < signals.length; i += SEND_CHUNK) {
      await this.producer!.send({ topic: this.config.topic, acks: -1, messages: signals.slice(i, i + SEND_CHUNK).map(toKafkaMessage) });
    }
    this.sent += signals.length;
    await this.hooks.afterSend?.(signals, this.sent);
    const last = events[events.length - 1].position;
    this.states.commit(ws.changedStates(), last, this.config.topic);
    this.stats.batches++;
    this.stats.signals += signals.length;
    this.advance(last);
    this.logger.debug('signals published', { position: last, events: events.length, signals: signals.length });
  }

  private advance(position: number): void {
    if (position <= this.stats.position && this.stats.position !== 0) return;
    this.stats.position = position;
    for (const l of [...this.caughtUpListeners]) l(position);
  }
}
