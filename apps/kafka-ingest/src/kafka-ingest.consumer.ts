import { Partitioners, type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { FieldError } from '@cem/domain';
import { silentLogger, type KafkaIngestConfig, type Logger } from '@cem/config';
import { isTransientStoreError as isTransientFailure } from '@cem/event-store';
import type { IngestionPort } from '@cem/ingestion';
import { toDeadLetterMessage, type DeadLetterError } from '@cem/kafka';

export type ConsumerState = 'idle' | 'starting' | 'running' | 'waiting-for-store' | 'stopping' | 'stopped' | 'crashed';

export interface KafkaIngestStats {
  /** messages taken from the topic (redeliveries counted again) */
  consumed: number;
  /** commands handed to a successful durable append (redeliveries counted again; the store dedups) */
  appended: number;
  deadLettered: number;
  /** waits after a transient store or broker failure */
  transientRetries: number;
  committedBatches: number;
}

export interface PartitionLag {
  partition: number;
  /** next offset the group will read (-1: nothing committed yet) */
  committed: number;
  high: number;
  lag: number;
}

export interface KafkaIngestHealth {
  state: ConsumerState;
  ready: boolean;
  /** set while the store is failing transiently (the consumer holds its position and retries) */
  storeUnavailableSince?: string;
  lastError?: string;
  stats: KafkaIngestStats;
}

interface Decoded<C> {
  message: KafkaMessage;
  command?: C;
  error?: DeadLetterError;
  attempts: number;
}

const ABORTED = Symbol('aborted');
type Aborted = typeof ABORTED;

interface BatchContext {
  topic: string;
  partition: number;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function describeError(error: unknown): DeadLetterError {
  const e = error as { name?: string; message?: string; errors?: unknown };
  const errors =
    Array.isArray(e?.errors) && e.errors.every((x) => x && typeof x === 'object' && 'field' in x && 'reason' in x)
      ? (e.errors as FieldError[])
      : [];
  return { reason: 'processing', message: `${e?.name ?? 'Error'}: ${e?.message ?? String(error)}`.slice(0, 2_000), errors };
}

/**
 * Consumes the touch-point topic in a consumer group and hands each batch to the ingestion service.
 *
 * Delivery: at-least-once into an idempotent store = exactly-once effect. For each chunk of a batch,
 * the valid events are durably appended and the invalid ones durably written to the dead-letter
 * topic, and only then is the chunk's last offset committed. A crash or rebalance at any point
 * redelivers at most the uncommitted chunk, and the store ignores event ids it already holds.
 *
 * Failures:
 * - bad message (not JSON, too large, failed validation): dead-lettered at once with its reason;
 * - transient (store down or busy, broker write failing): the partition holds its position and the
 *   same work is retried with capped exponential backoff, heartbeating meanwhile; never dead-lettered;
 * - any other error from the append: the chunk is bisected to find the failing message(s), each is
 *   tried `processingMaxAttempts` times, then dead-lettered; the others are appended.
 */
export class KafkaIngestConsumer<C = unknown> {
  private consumer?: Consumer;
  private producer?: Producer;
  private admin?: Admin;
  private state: ConsumerState = 'idle';
  private storeUnavailableSince?: Date;
  private lastError?: string;
  readonly stats: KafkaIngestStats = { consumed: 0, appended: 0, deadLettered: 0, transientRetries: 0, committedBatches: 0 };

  constructor(
    private readonly kafka: Kafka,
    private readonly config: KafkaIngestConfig,
    private readonly ingestion: IngestionPort<C>,
    private readonly logger: Logger = silentLogger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async start(): Promise<void> {
    if (this.state !== 'idle' && this.state !== 'stopped' && this.state !== 'crashed')
      throw new Error(`cannot start in state ${this.state}`);
    this.state = 'starting';
    const { config } = this;
    try {
      this.admin = this.kafka.admin();
      await this.admin.connect();
      if (config.createTopics) await this.ensureTopics();
      this.producer = this.kafka.producer({
        allowAutoTopicCreation: config.createTopics,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await this.producer.connect();
      this.consumer = this.kafka.consumer({
        groupId: config.groupId,
        sessionTimeout: config.sessionTimeoutMs,
        heartbeatInterval: config.heartbeatIntervalMs,
        maxBytesPerPartition: config.maxBytesPerPartition,
        allowAutoTopicCreation: false,
      });
      this.consumer.on(this.consumer.events.CRASH, (e) => {
        const { error, restart } = e.payload as { error: Error; restart: boolean };
        this.lastError = `${error.name}: ${error.message}`;
        this.logger.error('consumer crashed', { error: this.lastError, restart });
        if (!restart) this.state = 'crashed';
      });
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [config.topic], fromBeginning: config.fromBeginning });
      await this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: config.partitionsConcurrently,
        eachBatch: (payload) => this.handleBatch(payload),
      });
      this.state = 'running';
      this.logger.info('consuming', { topic: config.topic, groupId: config.groupId, dlqTopic: config.dlqTopic });
    } catch (e) {
      this.state = 'crashed';
      this.lastError = (e as Error).message;
      await this.disconnectAll();
      throw e;
    }
  }

  /** Finishes (or abandons, uncommitted) the current chunk, leaves the group and disconnects. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'idle') return;
    this.state = 'stopping';
    await this.disconnectAll();
    this.state = 'stopped';
  }

  health(): KafkaIngestHealth {
    const ready = this.state === 'running';
    return {
      state: this.state,
      ready,
      ...(this.storeUnavailableSince ? { storeUnavailableSince: this.storeUnavailableSince.toISOString() } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
      stats: { ...this.stats },
    };
  }

  /** Consumer lag of the group on the source topic, from the committed offsets. */
  async lag(): Promise<{ total: number; partitions: PartitionLag[] }> {
    const admin = this.admin;
    if (!admin) throw new Error('not started');
    return groupLag(admin, this.config.groupId, this.config.topic);
  }

  private async disconnectAll(): Promise<void> {
    const parts = [this.consumer, this.producer, this.admin];
    this.consumer = this.producer = this.admin = undefined;
    for (const p of parts) {
      try {
        await p?.disconnect();
      } catch (e) {
        this.logger.warn('disconnect failed', { error: (e as Error).message });
      }
    }
  }

  private async ensureTopics(): Promise<void> {
    const admin = this.admin!;
    const existing = new Set(await admin.listTopics());
    if (!existing.has(this.config.topic)) {
      await admin.createTopics({ topics: [{ topic: this.config.topic }], waitForLeaders: true });
    }
    if (!existing.has(this.config.dlqTopic)) {
      const [meta] = (await admin.fetchTopicMetadata({ topics: [this.config.topic] })).topics;
      await admin.createTopics({
        topics: [{ topic: this.config.dlqTopic, numPartitions: meta?.partitions.length ?? 1 }],
        waitForLeaders: true,
      });
    }
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    const ctx: BatchContext = { topic: batch.topic, partition: batch.partition, heartbeat, isRunning, isStale };
    const chunkSize = this.config.appendChunkSize;
    const messages = batch.messages;
    for (let i = 0; i < messages.length; i += chunkSize) {
      if (!isRunning() || isStale()) return;
      const chunk = messages.slice(i, i + chunkSize);
      this.stats.consumed += chunk.length;
      const decoded = chunk.map((m) => this.decode(m));
      const valid = decoded.filter((d) => d.command !== undefined);
      const rejected = decoded.filter((d) => d.command === undefined);
      const failed = await this.appendResilient(valid, ctx);
      if (failed === ABORTED) return;
      const dead = rejected.concat(failed);
      if (dead.length > 0) {
        dead.sort((a, b) => Number(BigInt(a.message.offset) - BigInt(b.message.offset)));
        if ((await this.deadLetter(dead, ctx)) === ABORTED) return;
      }
      // Everything in the chunk is now durable (appended or dead-lettered): commit past it.
      const last = chunk[chunk.length - 1]!;
      resolveOffset(last.offset);
      const next = i + chunkSize >= messages.length ? BigInt(batch.lastOffset()) + 1n : BigInt(last.offset) + 1n;
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next.toString() }] }],
      });
      this.stats.committedBatches++;
      await heartbeat();
    }
  }

  private decode(message: KafkaMessage): Decoded<C> {
    const value = message.value;
    if (value === null) {
      return {
        message,
        attempts: 1,
        error: {
          reason: 'malformed',
          message: 'message has no value',
          errors: [{ field: '', reason: 'message has no value (tombstone)' }],
        },
      };
    }
    if (value.length > this.config.maxMessageBytes) {
      const reason = `message is ${value.length} bytes; the limit is ${this.config.maxMessageBytes}`;
      return { message, attempts: 1, error: { reason: 'oversized', message: reason, errors: [{ field: '', reason }] } };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(value.toString('utf8'));
    } catch (e) {
      const reason = `is not valid JSON (${(e as Error).message})`;
      return { message, attempts: 1, error: { reason: 'malformed', message: `message ${reason}`, errors: [{ field: '', reason }] } };
    }
    try {
      const result = this.ingestion.validate(raw);
      if (result.ok) return { message, attempts: 0, command: result.command };
      const summary = result.errors.map((e) => `${e.field || '(event)'}: ${e.reason}`).join('; ');
      return { message, attempts: 1, error: { reason: 'validation', message: summary.slice(0, 2_000), errors: result.errors } };
    } catch (e) {
      return { message, attempts: 1, error: describeError(e) };
    }
  }

  private isTransient(error: unknown): boolean {
    return this.ingestion.isTransient ? this.ingestion.isTransient(error) : isTransientFailure(error);
  }

  /**
   * Appends the commands, in order. Returns those that failed permanently (to dead-letter), or
   * ABORTED when the consumer is stopping or the partition was revoked (nothing is committed then).
   */
  private async appendResilient(items: Decoded<C>[], ctx: BatchContext): Promise<Decoded<C>[] | Aborted> {
    if (items.length === 0) return [];
    let transientAttempt = 0;
    for (;;) {
      if (!ctx.isRunning() || ctx.isStale()) return ABORTED;
      try {
        await this.ingestion.append(items.map((d) => d.command!));
        this.stats.appended += items.length;
        this.storeRecovered();
        return [];
      } catch (error) {
        if (this.isTransient(error)) {
          this.storeFailing(error, ctx);
          if (!(await this.backoff(++transientAttempt, ctx))) return ABORTED;
          continue;
        }
        const indexed = indexedErrors(error, items.length);
        if (indexed) {
          // The service named the offending commands: dead-letter exactly those, append the rest.
          const bad: Decoded<C>[] = [];
          const rest: Decoded<C>[] = [];
          items.forEach((item, i) => {
            const errs = indexed.get(i);
            if (!errs) return void rest.push(item);
            item.attempts++;
            item.error = {
              reason: 'processing',
              message: errs
                .map((e) => `${e.field}: ${e.reason}`)
                .join('; ')
                .slice(0, 2_000),
              errors: errs,
            };
            bad.push(item);
          });
          const others = await this.appendResilient(rest, ctx);
          return others === ABORTED ? ABORTED : bad.concat(others);
        }
        if (items.length > 1) {
          // Find the failing message(s) by halving; order within the partition is kept.
          const mid = Math.ceil(items.length / 2);
          const left = await this.appendResilient(items.slice(0, mid), ctx);
          if (left === ABORTED) return ABORTED;
          const right = await this.appendResilient(items.slice(mid), ctx);
          if (right === ABORTED) return ABORTED;
          return left.concat(right);
        }
        const item = items[0]!;
        item.attempts++;
        this.lastError = describeError(error).message;
        if (item.attempts >= this.config.processingMaxAttempts) {
          this.logger.warn('message failed processing; dead-lettering', {
            topic: ctx.topic,
            partition: ctx.partition,
            offset: item.message.offset,
            attempts: item.attempts,
            error: (error as Error).name,
          });
          item.error = describeError(error);
          return [item];
        }
        if (!(await this.backoff(item.attempts, ctx))) return ABORTED;
      }
    }
  }

  /** Writes the failed messages to the dead-letter topic (acks=all), retrying until it succeeds. */
  private async deadLetter(items: Decoded<C>[], ctx: BatchContext): Promise<void | Aborted> {
    const now = this.now();
    const messages = items.map((d) =>
      toDeadLetterMessage({ topic: ctx.topic, partition: ctx.partition, message: d.message }, d.error!, {
        groupId: this.config.groupId,
        attempts: Math.max(1, d.attempts),
        now,
      }),
    );
    let attempt = 0;
    for (;;) {
      if (!ctx.isRunning() || ctx.isStale()) return ABORTED;
      try {
        await this.producer!.send({ topic: this.config.dlqTopic, acks: -1, messages });
        this.stats.deadLettered += items.length;
        for (const d of items) {
          this.logger.warn('dead-lettered', {
            topic: ctx.topic,
            partition: ctx.partition,
            offset: d.message.offset,
            reason: d.error!.reason,
            dlqTopic: this.config.dlqTopic,
          });
        }
        return;
      } catch (error) {
        this.lastError = `dead-letter write failed: ${(error as Error).message}`;
        this.logger.error('dead-letter write failed; retrying', { dlqTopic: this.config.dlqTopic, error: (error as Error).message });
        this.stats.transientRetries++;
        if (!(await this.backoff(++attempt, ctx))) return ABORTED;
      }
    }
  }

  private storeFailing(error: unknown, ctx: BatchContext): void {
    this.stats.transientRetries++;
    this.lastError = `${(error as Error).name}: ${(error as Error).message}`;
    if (!this.storeUnavailableSince) {
      this.storeUnavailableSince = this.now();
      this.logger.warn('store unavailable; holding position and retrying', {
        topic: ctx.topic,
        partition: ctx.partition,
        error: this.lastError,
      });
    }
    if (this.state === 'running') this.state = 'waiting-for-store';
  }

  private storeRecovered(): void {
    if (this.storeUnavailableSince) {
      this.logger.info('store available again', { unavailableSince: this.storeUnavailableSince.toISOString() });
      this.storeUnavailableSince = undefined;
    }
    if (this.state === 'waiting-for-store') this.state = 'running';
  }

  /** Waits with capped exponential backoff (full jitter above half), heartbeating. False if it should abort. */
  private async backoff(attempt: number, ctx: BatchContext): Promise<boolean> {
    const { retryInitialMs, retryMaxMs } = this.config;
    const cap = Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(attempt - 1, 20));
    let remaining = cap / 2 + Math.random() * (cap / 2);
    while (remaining > 0) {
      if (!ctx.isRunning() || ctx.isStale()) return false;
      const step = Math.min(remaining, 500);
      await sleep(step);
      remaining -= step;
      await ctx.heartbeat();
    }
    return ctx.isRunning() && !ctx.isStale();
  }
}

/** Per-command field errors of a rejection like IngestConflictError (`errors[i].index`), if it has them. */
function indexedErrors(error: unknown, count: number): Map<number, FieldError[]> | undefined {
  const list = (error as { errors?: unknown })?.errors;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const out = new Map<number, FieldError[]>();
  for (const e of list as { index?: unknown; field?: unknown; reason?: unknown }[]) {
    if (typeof e?.index !== 'number' || e.index < 0 || e.index >= count || typeof e.field !== 'string' || typeof e.reason !== 'string')
      return undefined;
    out.set(e.index, [...(out.get(e.index) ?? []), { field: e.field, reason: e.reason }]);
  }
  return out.size < count ? out : undefined; // all rejected: let bisection retry them one by one
}

/** Lag of a consumer group on a topic: high watermark minus committed offset, per partition. */
export async function groupLag(admin: Admin, groupId: string, topic: string): Promise<{ total: number; partitions: PartitionLag[] }> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const byPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  const partitions = ends
    .map((e) => {
      const c = byPartition.get(e.partition) ?? -1;
      const high = Number(e.high);
      const from = c < 0 ? Number(e.low) : c;
      return { partition: e.partition, committed: c, high, lag: Math.max(0, high - from) };
    })
    .sort((a, b) => a.partition - b.partition);
  return { total: partitions.reduce((s, p) => s + p.lag, 0), partitions };
}
