import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { loadConfig, loadKafkaIngestConfig } from '@cem/config';
import { openPlatform } from '@cem/platform';
import { ingestionPortFor } from '../src/ingestion.adapter';
import { KafkaIngestConsumer } from '../src/kafka-ingest.consumer';

export interface KafkaBenchRow {
  group: string;
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/** one round of a path: events/s of wall clock and this process's CPU time per event */
interface Measured {
  rate: number;
  cpuUs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export interface KafkaBenchOptions {
  events: number;
  /** default KAFKA_BROKERS or 127.0.0.1:9092 */
  brokers?: string[];
  partitions?: number;
  record?: (row: KafkaBenchRow) => void;
  log?: (line: string) => void;
}

function envelope(i: number, eventsPerCustomer = 10): Record<string, unknown> {
  const c = Math.floor(i / eventsPerCustomer);
  return {
    eventId: randomUUID(),
    type: 'contact.handled',
    occurredAt: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 1000).toISOString(),
    source: 'bench',
    channel: 'phone',
    agentId: `agent-${i % 50}`,
    customer: { identifiers: [{ kind: 'email', value: `customer${c}@example.com` }] },
    data: { direction: 'inbound', reason: 'billing', waitSeconds: 40, handleSeconds: 300, resolved: i % 5 !== 0 },
  };
}

/**
 * Consume-validate-append throughput from the real broker into the embedded store (the whole
 * kafka-ingest path: eachBatch, DTO validation, identity resolution, durable append, offset commit),
 * next to kafkajs's raw consume rate of the same topic in the same run (eachBatch counting only).
 * Both are timed from the first batch received to the last event handled, so group joins are excluded.
 * Needs a running broker (infra/kafka/start.sh). Target: >= 20,000 events/s and within 2x of raw.
 */
export async function benchKafkaIngest(options: KafkaBenchOptions): Promise<{ rawPerSec: number; ingestPerSec: number }> {
  const log = options.log ?? ((l: string) => console.log(l));
  const brokers = options.brokers ?? (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const n = options.events;
  const kafka = new Kafka({ clientId: 'cem-bench', brokers, logLevel: logLevel.NOTHING });
  const topic = `bench.touchpoints.${Date.now().toString(36)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: options.partitions ?? 3 }], waitForLeaders: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'cem-kafka-bench-'));
  try {
    // produce
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const t = performance.now();
    for (let i = 0; i < n; i += 2000) {
      const messages = [];
      for (let j = i; j < Math.min(n, i + 2000); j++) {
        const e = envelope(j);
        messages.push({ key: (e.customer as { identifiers: { value: string }[] }).identifiers[0]!.value, value: JSON.stringify(e) });
      }
      await producer.send({ topic, acks: -1, messages });
    }
    await producer.disconnect();
    log(`  kafka: produced ${n.toLocaleString('en-US')} events in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // raw kafkajs consume of the same topic
    const raw = kafka.consumer({ groupId: `${topic}.raw` });
    await raw.connect();
    await raw.subscribe({ topics: [topic], fromBeginning: true });
    let seen = 0;
    let first = 0;
    let last = 0;
    await new Promise<void>((resolve) => {
      void raw.run({
        eachBatch: async ({ batch }) => {
          if (!first) first = performance.now();
          seen += batch.messages.length;
          if (seen >= n) {
            last = performance.now();
            resolve();
          }
        },
      });
    });
    await raw.disconnect();
    const rawPerSec = n / ((last - first) / 1000);

    const config = (round: number) =>
      loadKafkaIngestConfig({
        KAFKA_BROKERS: brokers.join(','),
        KAFKA_TOPIC: topic,
        KAFKA_GROUP_ID: `${topic}.ingest-${round}`,
        KAFKA_CREATE_TOPICS: 'true',
        KAFKA_INGEST_HEALTH_PORT: '0',
        KAFKA_APPEND_CHUNK_SIZE: process.env.KAFKA_APPEND_CHUNK_SIZE,
        KAFKA_MAX_BYTES_PER_PARTITION: process.env.KAFKA_MAX_BYTES_PER_PARTITION,
        KAFKA_PARTITIONS_CONCURRENTLY: process.env.KAFKA_PARTITIONS_CONCURRENTLY,
      });
    const chunk = config(0).appendChunkSize;

    // the kafka-ingest path into a fresh embedded store (a consumer group of its own per round)
    const kafkaIngest = async (round: number): Promise<Measured> => {
      const dir = mkdtempSync(join(tmpdir(), 'cem-kafka-bench-ingest-'));
      try {
        const platform = openPlatform(loadConfig({ ...process.env, DATA_DIR: dir }));
        const port = ingestionPortFor(platform.ingestion);
        let handled = 0;
        let started = 0;
        let ended = 0;
        let cpuAtStart: NodeJS.CpuUsage | undefined;
        let cpu: NodeJS.CpuUsage | undefined;
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        const consumer = new KafkaIngestConsumer(kafka, config(round), {
          validate: (r) => {
            if (!started) {
              started = performance.now();
              cpuAtStart = process.cpuUsage();
            }
            return port.validate(r);
          },
          append: async (commands) => {
            await port.append(commands);
            handled += commands.length;
            if (handled >= n) {
              ended = performance.now();
              cpu = process.cpuUsage(cpuAtStart);
              done();
            }
          },
        });
        await consumer.start();
        await finished;
        await consumer.stop();
        await platform.close();
        return { rate: n / ((ended - started) / 1000), cpuUs: (cpu!.user + cpu!.system) / n };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };

    // the in-process ingestion service on the same kind of events (parsed from the same JSON, as the
    // consumer and the HTTP API must), into a fresh store with the same settings, in batches of the
    // consumer's append chunk: what the Kafka path is held against (>= 0.9x)
    const payloads = Array.from({ length: n }, (_, i) => JSON.stringify(envelope(i)));
    const inProcess = async (): Promise<Measured> => {
      const dir = mkdtempSync(join(tmpdir(), 'cem-kafka-bench-inproc-'));
      try {
        const direct = openPlatform(loadConfig({ ...process.env, DATA_DIR: dir }));
        const t0 = performance.now();
        const cpuAtStart = process.cpuUsage();
        for (let i = 0; i < n; i += chunk) await direct.ingestion.ingest(payloads.slice(i, i + chunk).map((p) => JSON.parse(p)));
        const rate = n / ((performance.now() - t0) / 1000);
        const cpu = process.cpuUsage(cpuAtStart);
        await direct.close();
        return { rate, cpuUs: (cpu.user + cpu.system) / n };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };

    // three rounds, alternating which goes first (k i, i k, k i), so neither always runs cold: the
    // medians, their spread, and the median of the rounds' own ratios (each round's two back to back)
    const kafkaRuns: Measured[] = [];
    const inProcessRuns: Measured[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < 3; round++) {
      if (round % 2 === 0) {
        kafkaRuns.push(await kafkaIngest(round));
        inProcessRuns.push(await inProcess());
      } else {
        inProcessRuns.push(await inProcess());
        kafkaRuns.push(await kafkaIngest(round));
      }
      ratios.push(kafkaRuns[round].rate / inProcessRuns[round].rate);
    }
    const ingestPerSec = median(kafkaRuns.map((r) => r.rate));
    const inProcessPerSec = median(inProcessRuns.map((r) => r.rate));
    const rounds = (xs: Measured[]) =>
      `rounds ${xs.map((x) => Math.round(x.rate).toLocaleString('en-US')).join(' / ')}; ${median(xs.map((x) => x.cpuUs)).toFixed(1)} us CPU/event`;
    const cpuRatio = median(inProcessRuns.map((r) => r.cpuUs)) / median(kafkaRuns.map((r) => r.cpuUs));

    const record =
      options.record ??
      ((r: KafkaBenchRow) => log(`  ${r.group} | ${r.name}: ${Math.round(r.value)} ${r.unit}${r.note ? ` (${r.note})` : ''}`));
    record({
      group: 'kafka',
      name: `kafkajs raw consume (eachBatch, ${n.toLocaleString('en-US')} events)`,
      value: rawPerSec,
      unit: 'events/s',
    });
    record({
      group: 'kafka',
      name: `kafka-ingest consume + validate + identity + durable append + commit (embedded SQLite, synchronous=${loadConfig({ ...process.env, DATA_DIR: dataDir }).SQLITE_SYNCHRONOUS})`,
      value: ingestPerSec,
      unit: 'events/s',
      note: `median of 3 alternating rounds (${rounds(kafkaRuns)}); ${(rawPerSec / ingestPerSec).toFixed(2)}x slower than raw consume; ${median(ratios).toFixed(2)}x the in-process service (median of the rounds' ratios ${ratios.map((r) => r.toFixed(2)).join(' / ')}; target >= 0.9x); by CPU per event ${cpuRatio.toFixed(2)}x`,
    });
    record({
      group: 'kafka',
      name: `in-process IngestionService.ingest, same events parsed from the same JSON, batches of ${chunk.toLocaleString('en-US')} (no broker)`,
      value: inProcessPerSec,
      unit: 'events/s',
      note: `the baseline of the row above, same run; median of 3 (${rounds(inProcessRuns)})`,
    });
    return { rawPerSec, ingestPerSec };
  } finally {
    await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
    await admin.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchKafkaIngest({ events: Number(process.env.BENCH_KAFKA_EVENTS ?? 100_000) }).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
