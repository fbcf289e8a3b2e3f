import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { TouchpointCommand } from '@cem/domain';
import { ingestionPortFor } from '../src/ingestion.adapter';
import { groupLag, KafkaIngestConsumer } from '../src/kafka-ingest.consumer';
import { loadKafkaIngestConfig } from '@cem/config';
import { asMessage, produce, sleep, tempPlatform, touchpoint, uniqueName, waitFor } from '../../../test/support/kafka-test-env';

jest.setTimeout(300_000);

/**
 * Stops and restarts a broker during consumption. It uses its own broker (infra/kafka/start.sh on
 * KAFKA_RESTART_TEST_PORT, default 19192) so the shared one on 9092 is never disturbed.
 */
const PORT = process.env.KAFKA_RESTART_TEST_PORT ?? '19192';
const ROOT = join(__dirname, '..', '..', '..');
const START = join(ROOT, 'infra', 'kafka', 'start.sh');
const STOP = join(ROOT, 'infra', 'kafka', 'stop.sh');
const run = promisify(execFile);
const env = { ...process.env, KAFKA_PORT: PORT, KAFKA_CONTROLLER_PORT: String(Number(PORT) + 1) };

function javaAvailable(): string | undefined {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'java not found';
}

const missing = javaAvailable();
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;
if (missing && process.env.CI !== 'true') process.stderr.write(`\n[kafka e2e] SKIPPED broker restart test: ${missing}\n`);

suite('kafka-ingest across a broker stop and restart (own broker)', () => {
  let admin: Admin;
  let kafka: Kafka;

  beforeAll(async () => {
    if (missing) throw new Error(`broker restart test needs Java to start its own broker: ${missing}`);
    await run(START, [], { env, timeout: 240_000 });
    kafka = new Kafka({
      clientId: 'restart-e2e',
      brokers: [`127.0.0.1:${PORT}`],
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 300, retries: 10 },
    });
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect().catch(() => undefined);
    await run(STOP, ['--clean'], { env, timeout: 60_000 }).catch(() => undefined);
  });

  it('consumption resumes after the broker comes back; nothing lost, nothing duplicated', async () => {
    const topic = uniqueName('e2e.restart');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const runId = uniqueName('run');
    const N = 2000;
    const envelopes = Array.from({ length: N }, (_, i) => touchpoint(runId, i, `restart-${i % 100}`));
    await produce(kafka, topic, envelopes.map(asMessage));

    const tp = tempPlatform();
    const config = loadKafkaIngestConfig({
      KAFKA_BROKERS: `127.0.0.1:${PORT}`,
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: `${topic}.group`,
      KAFKA_CREATE_TOPICS: 'true',
      KAFKA_APPEND_CHUNK_SIZE: '50',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
      KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      KAFKA_RETRY_INITIAL_MS: '100',
      KAFKA_RETRY_MAX_MS: '1000',
      KAFKA_INGEST_HEALTH_PORT: '0',
      KAFKA_LOG_LEVEL: 'error',
    });
    const port = ingestionPortFor(tp.platform.ingestion);
    let appended = 0;
    const consumer = new KafkaIngestConsumer(kafka, config, {
      ...port,
      append: async (c: TouchpointCommand[]) => {
        await port.append(c);
        appended += c.length;
        await sleep(20);
      },
    });
    try {
      await consumer.start();
      await waitFor('consumption under way', () => appended >= 300);
      await run(STOP, [], { env, timeout: 60_000 });
      const whileDown = appended;
      await sleep(3000);
      await run(START, [], { env, timeout: 240_000 });
      await waitFor(
        'lag 0 after the restart',
        async () => (await groupLag(admin, config.groupId, topic).catch(() => ({ total: -1 }))).total === 0,
        180_000,
        1000,
      );

      expect(whileDown).toBeLessThan(N);
      const all = await tp.platform.store.readAll();
      const ids = all.filter((e) => e.type === 'contact.handled').map((e) => e.eventId);
      expect(ids).toHaveLength(N);
      expect(new Set(ids)).toEqual(new Set(envelopes.map((e) => e.eventId)));
      expect(all.filter((e) => e.type === 'customer.registered')).toHaveLength(100);
      expect(consumer.stats.deadLettered).toBe(0);
    } finally {
      await consumer.stop();
      await tp.dispose();
    }
  });
});
