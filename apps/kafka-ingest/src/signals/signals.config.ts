import { ConfigError, loadKafkaIngestConfig, type KafkaIngestConfig } from '../config';
import { DEFAULT_SIGNALS_TOPIC } from '@cem/signals';

/** Configuration of the customer-signals publisher: the broker connection of kafka-ingest plus its own variables. */
export interface SignalsConfig extends Pick<KafkaIngestConfig, 'brokers' | 'clientId' | 'ssl' | 'sasl' | 'logLevel' | 'createTopics' | 'retryInitialMs' | 'retryMaxMs'> {
  topic: string;
  /** partitions when the publisher creates the topic (KAFKA_CREATE_TOPICS=true) */
  partitions: number;
  /** largest number of log events per batch (one produce, one checkpoint commit) */
  batchSize: number;
  /** the publisher's SQLite file; `<DATA_DIR>/signals.db` unless set */
  dbFile?: string;
}

export const SIGNALS_ENV = {
  KAFKA_SIGNALS_TOPIC: [DEFAULT_SIGNALS_TOPIC, 'topic the customer signals are published to'],
  KAFKA_SIGNALS_PARTITIONS: ['6', 'partitions of the signals topic when the publisher creates it'],
  SIGNALS_BATCH_SIZE: ['1000', 'log events per batch (one acknowledged produce, then one checkpoint commit)'],
  SIGNALS_DB_FILE: ['<DATA_DIR>/signals.db', "the publisher's state and checkpoint (SQLite)"],
} as const;

type Env = Record<string, string | undefined>;

export function loadSignalsConfig(env: Env = process.env): SignalsConfig {
  const problems: string[] = [];
  let kafka: KafkaIngestConfig | undefined;
  try {
    kafka = loadKafkaIngestConfig(env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  const raw = (name: keyof typeof SIGNALS_ENV) => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const int = (name: keyof typeof SIGNALS_ENV, fallback: number, min: number, max: number): number => {
    const v = raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(v)}: must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const topic = raw('KAFKA_SIGNALS_TOPIC') ?? DEFAULT_SIGNALS_TOPIC;
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(topic)) problems.push(`KAFKA_SIGNALS_TOPIC=${JSON.stringify(topic)}: must be a Kafka topic name (letters, digits, ".", "_", "-"; at most 249)`);
  else if (kafka && (topic === kafka.topic || topic === kafka.dlqTopic)) problems.push('KAFKA_SIGNALS_TOPIC: must differ from KAFKA_TOPIC and KAFKA_DLQ_TOPIC');
  const partitions = int('KAFKA_SIGNALS_PARTITIONS', 6, 1, 1000);
  const batchSize = int('SIGNALS_BATCH_SIZE', 1000, 1, 100_000);
  const dbFile = raw('SIGNALS_DB_FILE');
  if (problems.length > 0 || !kafka) throw new ConfigError(problems);
  return {
    brokers: kafka.brokers,
    clientId: kafka.clientId,
    ssl: kafka.ssl,
    ...(kafka.sasl ? { sasl: kafka.sasl } : {}),
    logLevel: kafka.logLevel,
    createTopics: kafka.createTopics,
    retryInitialMs: kafka.retryInitialMs,
    retryMaxMs: kafka.retryMaxMs,
    topic,
    partitions,
    batchSize,
    ...(dbFile ? { dbFile } : {}),
  };
}
