import {
  brokersOf,
  ConfigError,
  dlqTopicOf,
  loadConfig,
  readUtf8,
  type AppConfig,
  type KafkaLogLevel,
  type KafkaSaslMechanism,
  type ReadFile,
} from './config';

/**
 * The parts of the one configuration (AppConfig) that the Kafka processes use, shaped for them.
 * Views hold no defaults or rules of their own: those are all in AppConfig and loadConfig.
 */

/** How to reach the brokers (kafka-ingest, customer-signals, `cem kafka redrive`). */
export interface KafkaConnectionConfig {
  brokers: string[];
  clientId: string;
  ssl: false | { rejectUnauthorized: boolean; ca?: string[]; cert?: string; key?: string };
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
  /** KAFKA_LOG_LEVEL: what the Kafka client library logs */
  logLevel: KafkaLogLevel;
}

/** The touch-point consumer (apps/kafka-ingest) and the redrive of its dead-letter topic. */
export interface KafkaIngestConfig extends KafkaConnectionConfig {
  groupId: string;
  topic: string;
  /** `<topic>.dlq` unless set */
  dlqTopic: string;
  /** a new consumer group starts at the earliest offset (true) or only sees new messages (false) */
  fromBeginning: boolean;
  /** create the source and dead-letter topics at boot when missing (dev/test; off in production) */
  createTopics: boolean;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** how many partitions are processed at the same time by one consumer */
  partitionsConcurrently: number;
  maxBytesPerPartition: number;
  /** largest number of events per durable append (and per offset commit) */
  appendChunkSize: number;
  /** messages larger than this go to the dead-letter topic unread */
  maxMessageBytes: number;
  /** backoff for transient store/broker failures: initial, doubling, capped */
  retryInitialMs: number;
  retryMaxMs: number;
  /** attempts for one message that fails with a non-transient processing error before it is dead-lettered */
  processingMaxAttempts: number;
  /** 0 disables the health endpoint */
  healthPort: number;
}

/** The customer-signals publisher: the broker connection plus its own variables. */
export interface SignalsConfig extends Pick<
  KafkaIngestConfig,
  'brokers' | 'clientId' | 'ssl' | 'sasl' | 'logLevel' | 'createTopics' | 'retryInitialMs' | 'retryMaxMs'
> {
  topic: string;
  /** partitions when the publisher creates the topic (KAFKA_CREATE_TOPICS=true) */
  partitions: number;
  /** largest number of log events per batch (one produce, one checkpoint commit) */
  batchSize: number;
  /** the publisher's SQLite file; `<DATA_DIR>/signals.db` unless set */
  dbFile?: string;
}

/** The broker connection of a validated configuration; reads the TLS files it names. */
export function kafkaConnectionConfig(c: AppConfig, readFile: ReadFile = readUtf8): KafkaConnectionConfig {
  const read = (name: 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE'): string | undefined => {
    const path = c[name];
    if (path === undefined) return undefined;
    try {
      return readFile(path);
    } catch (e) {
      throw new ConfigError([`${name}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
    }
  };
  const ca = read('KAFKA_SSL_CA_FILE');
  const cert = read('KAFKA_SSL_CERT_FILE');
  const key = read('KAFKA_SSL_KEY_FILE');
  const sslOn = c.KAFKA_SSL || ca !== undefined || cert !== undefined;
  return {
    brokers: brokersOf(c),
    clientId: c.KAFKA_CLIENT_ID,
    ssl: sslOn
      ? {
          rejectUnauthorized: c.KAFKA_SSL_REJECT_UNAUTHORIZED,
          ...(ca ? { ca: [ca] } : {}),
          ...(cert ? { cert } : {}),
          ...(key ? { key } : {}),
        }
      : false,
    ...(c.KAFKA_SASL_MECHANISM
      ? { sasl: { mechanism: c.KAFKA_SASL_MECHANISM, username: c.KAFKA_SASL_USERNAME ?? '', password: c.KAFKA_SASL_PASSWORD ?? '' } }
      : {}),
    logLevel: c.KAFKA_LOG_LEVEL,
  };
}

export function kafkaIngestConfig(c: AppConfig, readFile: ReadFile = readUtf8): KafkaIngestConfig {
  return {
    ...kafkaConnectionConfig(c, readFile),
    groupId: c.KAFKA_GROUP_ID,
    topic: c.KAFKA_TOPIC,
    dlqTopic: dlqTopicOf(c),
    fromBeginning: c.KAFKA_FROM_BEGINNING,
    createTopics: c.KAFKA_CREATE_TOPICS,
    sessionTimeoutMs: c.KAFKA_SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: c.KAFKA_HEARTBEAT_INTERVAL_MS,
    partitionsConcurrently: c.KAFKA_PARTITIONS_CONCURRENTLY,
    maxBytesPerPartition: c.KAFKA_MAX_BYTES_PER_PARTITION,
    appendChunkSize: c.KAFKA_APPEND_CHUNK_SIZE,
    maxMessageBytes: c.KAFKA_MAX_MESSAGE_BYTES,
    retryInitialMs: c.KAFKA_RETRY_INITIAL_MS,
    retryMaxMs: c.KAFKA_RETRY_MAX_MS,
    processingMaxAttempts: c.KAFKA_PROCESSING_MAX_ATTEMPTS,
    healthPort: c.KAFKA_INGEST_HEALTH_PORT,
  };
}

export function signalsConfig(c: AppConfig, readFile: ReadFile = readUtf8): SignalsConfig {
  return {
    ...kafkaConnectionConfig(c, readFile),
    createTopics: c.KAFKA_CREATE_TOPICS,
    retryInitialMs: c.KAFKA_RETRY_INITIAL_MS,
    retryMaxMs: c.KAFKA_RETRY_MAX_MS,
    topic: c.KAFKA_SIGNALS_TOPIC,
    partitions: c.KAFKA_SIGNALS_PARTITIONS,
    batchSize: c.SIGNALS_BATCH_SIZE,
    ...(c.SIGNALS_DB_FILE ? { dbFile: c.SIGNALS_DB_FILE } : {}),
  };
}

/** Validates the whole configuration (ConfigError naming every problem) and returns the kafka-ingest view. */
export function loadKafkaIngestConfig(env: NodeJS.ProcessEnv = process.env, readFile: ReadFile = readUtf8): KafkaIngestConfig {
  return kafkaIngestConfig(loadConfig(env, { readFile }), readFile);
}

/** Validates the whole configuration (ConfigError naming every problem) and returns the customer-signals view. */
export function loadSignalsConfig(env: NodeJS.ProcessEnv = process.env, readFile: ReadFile = readUtf8): SignalsConfig {
  return signalsConfig(loadConfig(env, { readFile }), readFile);
}

/** A Kafka view with its secrets masked, for a boot log line. */
export function describeKafkaConfig(c: KafkaConnectionConfig): Record<string, unknown> {
  return {
    ...(c as object),
    ssl: c.ssl ? { rejectUnauthorized: c.ssl.rejectUnauthorized, ca: Boolean(c.ssl.ca), clientCert: Boolean(c.ssl.cert) } : false,
    sasl: c.sasl ? { mechanism: c.sasl.mechanism, username: c.sasl.username, password: '***' } : undefined,
  };
}

/** The webhook dispatcher (libs/signals/src/webhooks), run where the projector runs. */
export interface WebhooksConfig {
  /** WEBHOOK_ALLOWED_HOSTS as entries, lower case; empty: any public host */
  allowedHosts: string[];
  maxAttempts: number;
  retryInitialMs: number;
  retryMaxMs: number;
  timeoutMs: number;
}

export function webhooksConfig(c: AppConfig): WebhooksConfig {
  return {
    allowedHosts: (c.WEBHOOK_ALLOWED_HOSTS ?? '')
      .split(',')
      .map((h) =>
        h
          .trim()
          .toLowerCase()
          .replace(/^\[(.*)\]$/, '$1'),
      )
      .filter(Boolean),
    maxAttempts: c.WEBHOOK_MAX_ATTEMPTS,
    retryInitialMs: c.WEBHOOK_RETRY_INITIAL_MS,
    retryMaxMs: c.WEBHOOK_RETRY_MAX_MS,
    timeoutMs: c.WEBHOOK_TIMEOUT_MS,
  };
}
