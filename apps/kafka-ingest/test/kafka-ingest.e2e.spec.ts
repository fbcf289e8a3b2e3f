import type { Admin, Kafka } from 'kafkajs';
import type { TouchpointCommand } from '@cem/domain';
import { StoreUnavailableError } from '@cem/event-store';
import type { Platform } from '@cem/platform';
import { DLQ_HEADERS, redriveDeadLetters, REDRIVEN_FROM_HEADER, type DeadLetterError } from '@cem/kafka';
import { ingestionPortFor } from '../src/ingestion.adapter';
import type { IngestionPort } from '@cem/ingestion';
import { groupLag, KafkaIngestConsumer } from '../src/kafka-ingest.consumer';
import {
  asMessage,
  createTopic,
  describeWithKafka,
  ingestConfig,
  produce,
  readAllMessages,
  sleep,
  tempPlatform,
  testKafka,
  touchpoint,
  uniqueName,
  waitFor,
} from '../../../test/support/kafka-test-env';

jest.setTimeout(120_000);

async function storedTouchpoints(platform: Platform): Promise<string[]> {
  const all = await platform.store.readAll();
  return all.filter((e) => e.type === 'contact.handled').map((e) => e.eventId);
}

describeWithKafka('kafka-ingest against a real broker', () => {
  let kafka: Kafka;
  let admin: Admin;
  const topics: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    kafka = testKafka();
    admin = kafka.admin();
    await admin.connect();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    const existing = new Set(await admin.listTopics());
    const mine = topics.flatMap((t) => [t, `${t}.dlq`]).filter((t) => existing.has(t));
    if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    await admin.disconnect();
  });

  async function setup(
    partitions: number,
    env: Record<string, string> = {},
    wrap?: (port: IngestionPort<TouchpointCommand>) => IngestionPort<TouchpointCommand>,
  ) {
    const topic = uniqueName('e2e.touchpoints');
    topics.push(topic);
    await createTopic(admin, topic, partitions);
    const tp = tempPlatform();
    const config = ingestConfig(topic, env);
    const base = ingestionPortFor(tp.platform.ingestion);
    const consumer = new KafkaIngestConsumer(kafka, config, wrap ? wrap(base) : base);
    cleanups.push(async () => {
      await consumer.stop();
      await tp.dispose();
    });
    return { topic, config, consumer, platform: tp.platform };
  }

  it('N events produced over 3 partitions (with producer-side duplicates) are all appended exactly once', async () => {
    const { topic, config, consumer, platform } = await setup(3, { KAFKA_APPEND_CHUNK_SIZE: '250' });
    const run = uniqueName('run');
    const N = 3000;
    const envelopes = Array.from({ length: N }, (_, i) => touchpoint(run, i, `cust-${i % 300}`));
    await produce(kafka, topic, envelopes.map(asMessage));
    // a producer that retried: the first 200 again
    await produce(kafka, topic, envelopes.slice(0, 200).map(asMessage));

    await consumer.start();
    await waitFor('lag 0', async () => (await groupLag(admin, config.groupId, topic)).total === 0);

    const stored = await storedTouchpoints(platform);
    expect(stored).toHaveLength(N);
    expect(new Set(stored)).toEqual(new Set(envelopes.map((e) => e.eventId)));
    // one registration per customer, not per delivery
    const registrations = (await platform.store.readAll()).filter((e) => e.type === 'customer.registered');
    expect(registrations).toHaveLength(300);
    expect(consumer.stats.deadLettered).toBe(0);
    expect(consumer.stats.consumed).toBe(N + 200);
    expect(consumer.health()).toMatchObject({ state: 'running', ready: true });
  });

  it('poison messages go to <topic>.dlq with original bytes, reason, source partition/offset and time; good ones around them are processed', async () => {
    const run = uniqueName('run');
    const { topic, config, consumer, platform } = await setup(1, { KAFKA_MAX_MESSAGE_BYTES: '4096', KAFKA_PROCESSING_MAX_ATTEMPTS: '2' });
    const good = (i: number) => touchpoint(run, i, `poison-${i}`);
    const conflicting = { ...good(1), data: { ...good(1).data, handleSeconds: 9999 } }; // same eventId, other content
    const invalid = { ...good(99), eventId: 'not-a-uuid', channel: 'pigeon' };
    const oversized = { ...good(98), data: { ...good(98).data, notes: 'x'.repeat(5000) } };
    const plan = [
      { m: asMessage(good(1)), dead: undefined },
      { m: { key: 'k', value: '{"eventId": "trunc' }, dead: 'malformed' },
      { m: asMessage(good(2)), dead: undefined },
      { m: asMessage(invalid), dead: 'validation' },
      { m: asMessage(good(3)), dead: undefined },
      { m: asMessage(oversized), dead: 'oversized' },
      { m: asMessage(good(4)), dead: undefined },
      { m: { key: 'k', value: null }, dead: 'malformed' },
      { m: asMessage(conflicting), dead: 'processing' },
      { m: asMessage(good(5)), dead: undefined },
    ] as const;
    await produce(
      kafka,
      topic,
      plan.map((p) => ({ ...p.m, headers: { 'trace-id': 'abc' } })),
    );
    const before = Date.now();

    await consumer.start();
    await waitFor('lag 0', async () => (await groupLag(admin, config.groupId, topic)).total === 0);

    expect(new Set(await storedTouchpoints(platform))).toEqual(new Set([1, 2, 3, 4, 5].map((i) => good(i).eventId)));
    const dlq = (await readAllMessages(kafka, config.dlqTopic)).sort(
      (a, b) => Number(a.headers[DLQ_HEADERS.sourceOffset]) - Number(b.headers[DLQ_HEADERS.sourceOffset]),
    );
    const expected = plan.map((p, offset) => ({ ...p, offset })).filter((p) => p.dead);
    expect(dlq).toHaveLength(expected.length);
    dlq.forEach((d, i) => {
      const e = expected[i]!;
      const error = JSON.parse(d.headers[DLQ_HEADERS.error]!) as DeadLetterError;
      expect(error.reason).toBe(e.dead);
      expect(d.headers[DLQ_HEADERS.reason]).toBe(e.dead);
      expect(d.headers[DLQ_HEADERS.sourceTopic]).toBe(topic);
      expect(d.headers[DLQ_HEADERS.sourcePartition]).toBe('0');
      expect(d.headers[DLQ_HEADERS.sourceOffset]).toBe(String(e.offset));
      expect(Date.parse(d.headers[DLQ_HEADERS.failedAt]!)).toBeGreaterThanOrEqual(before - 1000);
      expect(d.headers['trace-id']).toBe('abc'); // original headers kept
      // the original bytes, unchanged
      const original = e.m.value === null ? null : Buffer.from(e.m.value as string);
      expect(d.value === null || d.value.length === 0 ? null : d.value).toEqual(original);
    });
    const errorOf = (reason: string) =>
      dlq.map((d) => JSON.parse(d.headers[DLQ_HEADERS.error]!) as DeadLetterError).filter((e) => e.reason === reason);
    expect(
      errorOf('validation')[0]!
        .errors.map((e) => e.field)
        .sort(),
    ).toEqual(['channel', 'eventId']);
    expect(errorOf('oversized')[0]!.message).toMatch(/limit is 4096/);
    expect(errorOf('processing')[0]!.errors).toEqual([{ field: 'eventId', reason: 'was already recorded with different content' }]);
    expect(errorOf('malformed').map((e) => e.errors[0]!.reason)).toEqual([
      expect.stringMatching(/not valid JSON/),
      'message has no value (tombstone)',
    ]);
  });

  it('a transient store outage pauses and retries with backoff: nothing is dead-lettered or committed, all is appended once the store is back', async () => {
    const run = uniqueName('run');
    let outage = true;
    let failedAppends = 0;
    const { topic, config, consumer, platform } = await setup(2, {}, (port) => ({
      ...port,
      append: async (commands) => {
        if (outage) {
          failedAppends++;
          throw new StoreUnavailableError('event store unreachable (test outage)');
        }
        return port.append(commands);
      },
    }));
    const envelopes = Array.from({ length: 300 }, (_, i) => touchpoint(run, i, `outage-${i % 30}`));
    await produce(kafka, topic, envelopes.map(asMessage));
    await consumer.start();

    await waitFor('several failed appends', () => failedAppends >= 5);
    await sleep(1500);
    expect(consumer.health()).toMatchObject({ state: 'waiting-for-store', ready: false });
    expect(consumer.health().storeUnavailableSince).toBeDefined();
    expect(await storedTouchpoints(platform)).toHaveLength(0);
    expect((await groupLag(admin, config.groupId, topic)).total).toBe(300); // nothing committed
    expect(consumer.stats.deadLettered).toBe(0);

    outage = false;
    await waitFor('lag 0', async () => (await groupLag(admin, config.groupId, topic)).total === 0);
    expect(new Set(await storedTouchpoints(platform))).toEqual(new Set(envelopes.map((e) => e.eventId)));
    expect(await storedTouchpoints(platform)).toHaveLength(300);
    expect(consumer.stats.deadLettered).toBe(0);
    expect(consumer.stats.transientRetries).toBeGreaterThanOrEqual(5);
    expect(consumer.health()).toMatchObject({ state: 'running', ready: true });
    const dlqOffsets = await admin.fetchTopicOffsets(config.dlqTopic);
    expect(dlqOffsets.every((o) => o.high === o.low)).toBe(true);
  });

  it('a message failing with a processing error is dead-lettered after bounded attempts and re-driven after the fix', async () => {
    const run = uniqueName('run');
    let bugFixed = false;
    const { topic, config, consumer, platform } = await setup(1, { KAFKA_PROCESSING_MAX_ATTEMPTS: '3' }, (port) => ({
      ...port,
      append: async (commands) => {
        if (!bugFixed && commands.some((c) => (c.data as { reason?: string }).reason === 'trigger-bug'))
          throw new TypeError('cannot read properties of undefined (simulated bug)');
        return port.append(commands);
      },
    }));
    const envelopes = [touchpoint(run, 1, 'rd-1'), touchpoint(run, 2, 'rd-2', { reason: 'trigger-bug' }), touchpoint(run, 3, 'rd-3')];
    await produce(kafka, topic, [...envelopes.map(asMessage), { key: 'x', value: 'garbage' }]);
    await consumer.start();
    await waitFor('lag 0', async () => (await groupLag(admin, config.groupId, topic)).total === 0);
    expect(new Set(await storedTouchpoints(platform))).toEqual(new Set([envelopes[0]!.eventId, envelopes[2]!.eventId]));
    const dlq = await readAllMessages(kafka, config.dlqTopic);
    expect(dlq.map((d) => d.headers[DLQ_HEADERS.reason]).sort()).toEqual(['malformed', 'processing']);
    const processing = dlq.find((d) => d.headers[DLQ_HEADERS.reason] === 'processing')!;
    expect(processing.headers[DLQ_HEADERS.attempts]).toBe('3');
    expect(JSON.parse(processing.headers[DLQ_HEADERS.error]!).message).toMatch(/TypeError: cannot read properties/);

    // dry run: lists, republishes nothing
    const dry = await redriveDeadLetters({ kafka, dlqTopic: config.dlqTopic, dryRun: true });
    expect(dry).toMatchObject({ examined: 2, redriven: 0 });

    bugFixed = true;
    const result = await redriveDeadLetters({ kafka, dlqTopic: config.dlqTopic });
    expect(result).toMatchObject({ examined: 2, redriven: 2, skipped: 0, remaining: 0 });
    await waitFor('redriven event stored', async () => (await storedTouchpoints(platform)).length === 3);
    expect(new Set(await storedTouchpoints(platform))).toEqual(new Set(envelopes.map((e) => e.eventId)));

    // the still-broken message is dead-lettered again, marked as re-driven; a second redrive run sees only it
    await waitFor('garbage dead-lettered again', async () => (await readAllMessages(kafka, config.dlqTopic)).length === 3);
    const again = (await readAllMessages(kafka, config.dlqTopic)).find((d) => d.headers[REDRIVEN_FROM_HEADER]);
    expect(again?.headers[DLQ_HEADERS.reason]).toBe('malformed');
    const second = await redriveDeadLetters({ kafka, dlqTopic: config.dlqTopic, reasons: ['processing'] });
    expect(second).toMatchObject({ examined: 1, redriven: 0, skipped: 1 });
    expect(await redriveDeadLetters({ kafka, dlqTopic: config.dlqTopic })).toMatchObject({ examined: 0 });
  });
});
