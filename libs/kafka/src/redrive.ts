import { Partitioners, type EachBatchPayload, type Kafka, type Message } from 'kafkajs';
import { parseDeadLetter, REDRIVEN_FROM_HEADER, type DeadLetterReason, type DeadLetterRecord } from './dead-letter';
import { silentLogger, type Logger } from '@cem/config';

export interface RedriveOptions {
  kafka: Kafka;
  dlqTopic: string;
  /** where to republish; default: each record's source topic (from its dlq.source.topic header) */
  targetTopic?: string;
  /**
   * Consumer group that remembers how far the dead-letter topic has been re-driven, so each record is
   * re-driven once. Default `<dlqTopic>.redrive`.
   */
  groupId?: string;
  /** stop after this many records (the rest stay for the next run) */
  maxMessages?: number;
  /** only these reasons are republished; the others are passed over (and reported as skipped) */
  reasons?: DeadLetterReason[];
  /** list what would be re-driven; publishes and commits nothing */
  dryRun?: boolean;
  logger?: Logger;
  /** fail the run if it has not finished by then (default 5 minutes) */
  timeoutMs?: number;
  /** called for each record examined (e.g. to print it) */
  onRecord?: (record: DeadLetterRecord, action: 'redriven' | 'skipped' | 'would-redrive') => void;
}

export interface RedriveResult {
  examined: number;
  redriven: number;
  skipped: number;
  /** records left after the end snapshot or the max */
  remaining: number;
}

/**
 * Re-drives dead-lettered messages after a fix: republishes each record's original key, value and
 * headers (plus `redriven.from`) to its source topic, where the consumer processes it again (a
 * record that still fails is dead-lettered again, as a new record). Reads the dead-letter topic from
 * the redrive group's committed position up to the end offsets seen at the start, then commits, so
 * running it twice does not republish the same record twice.
 */
export async function redriveDeadLetters(options: RedriveOptions): Promise<RedriveResult> {
  const { kafka, dlqTopic, dryRun = false } = options;
  const logger = options.logger ?? silentLogger;
  const groupId = options.groupId ?? `${dlqTopic}.redrive`;
  const max = options.maxMessages ?? Number.POSITIVE_INFINITY;
  const result: RedriveResult = { examined: 0, redriven: 0, skipped: 0, remaining: 0 };

  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  let starts: Map<number, bigint>;
  try {
    const [offsets, committed] = await Promise.all([
      admin.fetchTopicOffsets(dlqTopic),
      admin.fetchOffsets({ groupId, topics: [dlqTopic] }),
    ]);
    const committedBy = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    if (options.targetTopic && !dryRun && !(await admin.listTopics()).includes(options.targetTopic)) {
      throw new Error(`target topic ${options.targetTopic} does not exist`);
    }
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    starts = new Map(
      offsets.map((o) => {
        const c = committedBy.get(o.partition) ?? -1n;
        return [o.partition, c >= 0n ? c : BigInt(o.low)];
      }),
    );
  } finally {
    await admin.disconnect();
  }
  const pending = [...ends].filter(([p, end]) => starts.get(p)! < end).map(([p]) => p);
  const backlog = [...ends].reduce((s, [p, end]) => s + Number(end - starts.get(p)!), 0);
  if (pending.length === 0) return result;
  logger.info('redrive starting', { dlqTopic, groupId, backlog, dryRun });

  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  // short session: a run that was killed leaves a stale member that delays the next run's join only briefly
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  await producer.connect();
  await consumer.connect();
  const done = new Set<number>();
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const finished = new Promise<void>((res, rej) => ((finish = res), (fail = rej)));
  // A one-shot tool: any crash ends the run (kafkajs would otherwise restart and retry forever).
  consumer.on(consumer.events.CRASH, (e) => fail((e.payload as { error: Error }).error));
  try {
    await consumer.subscribe({ topics: [dlqTopic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        try {
          await redriveBatch(payload);
        } catch (e) {
          fail(e); // nothing of this batch is committed; the run stops with the error
        }
      },
    });
    const timeoutMs = options.timeoutMs ?? 300_000;
    const timer = setTimeout(
      () => fail(new Error(`redrive did not finish within ${timeoutMs} ms (${result.examined} of ${backlog} examined)`)),
      timeoutMs,
    );
    try {
      await finished;
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
  }
  result.remaining = Math.max(0, backlog - result.examined);
  logger.info('redrive finished', { ...result, dryRun });
  return result;

  async function redriveBatch({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning }: EachBatchPayload): Promise<void> {
    if (!isRunning()) return;
    const end = ends.get(batch.partition) ?? 0n;
    if (done.has(batch.partition) || result.examined >= max) return;
    const out: { topic: string; message: Message }[] = [];
    const examined: DeadLetterRecord[] = [];
    let lastOffset: string | undefined;
    for (const m of batch.messages) {
      if (BigInt(m.offset) >= end || result.examined >= max) break;
      const record = parseDeadLetter(batch.partition, m);
      result.examined++;
      lastOffset = m.offset;
      const wanted = !options.reasons || options.reasons.includes(record.error.reason);
      if (!wanted) {
        result.skipped++;
        options.onRecord?.(record, 'skipped');
        continue;
      }
      examined.push(record);
      const topic = options.targetTopic ?? record.source.topic;
      if (!topic) throw new Error(`dead-letter record ${batch.partition}/${m.offset} names no source topic; pass a target topic`);
      out.push({
        topic,
        message: {
          key: record.key,
          value: record.value,
          headers: { ...record.originalHeaders, [REDRIVEN_FROM_HEADER]: `${dlqTopic}/${batch.partition}/${m.offset}` },
        },
      });
    }
    if (!dryRun && lastOffset !== undefined) {
      const byTopic = new Map<string, Message[]>();
      for (const o of out) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o.message]);
      if (byTopic.size > 0)
        await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      resolveOffset(lastOffset);
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(lastOffset) + 1n).toString() }] }],
      });
      result.redriven += out.length;
    }
    for (const r of examined) options.onRecord?.(r, dryRun ? 'would-redrive' : 'redriven');
    await heartbeat();
    const reachedEnd = lastOffset !== undefined ? BigInt(lastOffset) + 1n >= end : BigInt(batch.lastOffset()) + 1n >= end;
    if (reachedEnd || result.examined >= max) done.add(batch.partition);
    if (result.examined >= max || pending.every((p) => done.has(p))) finish();
  }
}
