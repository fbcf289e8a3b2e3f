import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin, type Message } from 'kafkajs';
import { deterministicUuid } from '@cem/domain';
import { loadConfig, loadKafkaIngestConfig, type KafkaIngestConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';

/** Brokers of the real Kafka the e2e tests use: KAFKA_BROKERS, else 127.0.0.1:$KAFKA_PORT (9092). */
export const TEST_BROKERS = (process.env.KAFKA_BROKERS ?? `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`).split(',');

function brokerReachable(): { ok: true } | { ok: false; why: string } {
  const [host, port] = TEST_BROKERS[0]!.split(':');
  const probe = `const s=require('net').connect(${Number(port)},${JSON.stringify(host)});s.on('connect',()=>process.exit(0));s.on('error',e=>{process.stderr.write(e.code||e.message);process.exit(1)});setTimeout(()=>{process.stderr.write('timeout');process.exit(1)},3000)`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? { ok: true } : { ok: false, why: (r.stderr || r.error?.message || 'no answer').trim() };
}

/**
 * `describe` for tests that need the real broker. When it is not reachable: with CI=true the suite
 * fails loudly; otherwise it is skipped with the reason printed.
 */
export function describeWithKafka(name: string, body: () => void): void {
  const reach = brokerReachable();
  if (reach.ok) return describe(name, body);
  const reason = `Kafka broker not reachable at ${TEST_BROKERS.join(',')} (${reach.why}); start one with infra/kafka/start.sh`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs a reachable Kafka broker (CI=true)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  process.stderr.write(`\n[kafka e2e] SKIPPED "${name}": ${reason}\n`);
  describe.skip(name, body);
}

export const testKafka = (clientId = 'kafka-ingest-e2e') => new Kafka({ clientId, brokers: TEST_BROKERS, logLevel: logLevel.NOTHING });

/** Fresh topic names per test run so runs never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 8)}`;
}

export function ingestConfig(topic: string, overrides: Record<string, string> = {}): KafkaIngestConfig {
  return loadKafkaIngestConfig({
    KAFKA_BROKERS: TEST_BROKERS.join(','),
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: `${topic}.group`,
    KAFKA_CLIENT_ID: 'kafka-ingest-e2e',
    KAFKA_CREATE_TOPICS: 'true',
    KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    KAFKA_SESSION_TIMEOUT_MS: '10000',
    KAFKA_RETRY_INITIAL_MS: '50',
    KAFKA_RETRY_MAX_MS: '500',
    KAFKA_INGEST_HEALTH_PORT: '0',
    KAFKA_LOG_LEVEL: 'error',
    ...overrides,
  });
}

export async function createTopic(admin: Admin, topic: string, numPartitions: number): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
}

/** A valid touch-point envelope: event `i` of customer `customer` (deterministic eventId per run + i). */
export function touchpoint(run: string, i: number, customer: string, data: Record<string, unknown> = {}) {
  return {
    eventId: deterministicUuid('kafka-e2e', run, String(i)),
    type: 'contact.handled',
    occurredAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    source: 'genesys-cloud',
    channel: 'phone',
    customer: { identifiers: [{ kind: 'email', value: `${customer}@example.com` }] },
    data: { direction: 'inbound', handleSeconds: 60 + (i % 100), resolved: true, ...data },
  };
}

export const asMessage = (envelope: { customer: { identifiers: { value: string }[] } }): Message => ({
  key: envelope.customer.identifiers[0]!.value,
  value: JSON.stringify(envelope),
});

export async function produce(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
  } finally {
    await producer.disconnect();
  }
}

/** The real platform (SQLite event store, identity registry, ingestion service) in a temp DATA_DIR. */
export function tempPlatform(): { platform: Platform; dataDir: string; dispose(): Promise<void> } {
  const dataDir = mkdtempSync(join(tmpdir(), 'kafka-ingest-e2e-'));
  const platform = openPlatform(loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL' }));
  return {
    platform,
    dataDir,
    async dispose() {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** All messages currently in a topic (from the start to the high watermarks), read with a throwaway group. */
export async function readAllMessages(kafka: Kafka, topic: string) {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = ends.reduce((s, e) => s + Number(e.high) - Number(e.low), 0);
  const out: { partition: number; offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, string> }[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(Array.isArray(v) ? v[0] : v);
        out.push({ partition, offset: message.offset, key: message.key, value: message.value, headers });
        if (out.length >= total) resolve();
      },
    });
  });
  await consumer.disconnect();
  return out;
}

export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
