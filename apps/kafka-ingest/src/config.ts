import { readFileSync } from 'node:fs';

/**
 * Configuration of the Kafka ingestion app, read from environment variables and validated at boot:
 * every problem is reported at once, each naming its variable, and the process refuses to start.
 */
export interface KafkaIngestConfig {
  brokers: string[];
  clientId: string;
  groupId: string;
  topic: string;
  /** `<topic>.dlq` unless set */
  dlqTopic: string;
  /** a new consumer group starts at the earliest offset (true) or only sees new messages (false) */
  fromBeginning: boolean;
  /** create the source and dead-letter topics at boot when missing (dev/test; off in production) */
  createTopics: boolean;
  ssl: false | { rejectUnauthorized: boolean; ca?: string[]; cert?: string; key?: string };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
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
  logLevel: 'error' | 'warn' | 'info' | 'debug';
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid kafka-ingest configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Variables, defaults and meaning; the README's configuration table is generated from the same facts. */
export const KAFKA_INGEST_ENV = {
  KAFKA_BROKERS: ['127.0.0.1:9092', 'comma-separated host:port list'],
  KAFKA_CLIENT_ID: ['cem-platform', 'client id sent to the brokers'],
  KAFKA_GROUP_ID: ['cem-ingest', 'consumer group'],
  KAFKA_TOPIC: ['cem.touchpoints.v1', 'touch-point topic consumed'],
  KAFKA_DLQ_TOPIC: ['<KAFKA_TOPIC>.dlq', 'dead-letter topic'],
  KAFKA_FROM_BEGINNING: ['true', 'a new group starts at the earliest offset'],
  KAFKA_CREATE_TOPICS: ['false', 'create missing topics at boot (dev/test)'],
  KAFKA_SSL: ['false', 'TLS to the brokers'],
  KAFKA_SSL_CA_FILE: ['', 'PEM file of CA certificates (implies TLS)'],
  KAFKA_SSL_CERT_FILE: ['', 'client certificate PEM (mutual TLS)'],
  KAFKA_SSL_KEY_FILE: ['', 'client key PEM (mutual TLS)'],
  KAFKA_SSL_REJECT_UNAUTHORIZED: ['true', 'verify the broker certificate'],
  KAFKA_SASL_MECHANISM: ['', 'plain | scram-sha-256 | scram-sha-512'],
  KAFKA_SASL_USERNAME: ['', 'required with KAFKA_SASL_MECHANISM'],
  KAFKA_SASL_PASSWORD: ['', 'required with KAFKA_SASL_MECHANISM'],
  KAFKA_SESSION_TIMEOUT_MS: ['30000', 'group session timeout'],
  KAFKA_HEARTBEAT_INTERVAL_MS: ['3000', 'group heartbeat interval (< session timeout / 3)'],
  KAFKA_PARTITIONS_CONCURRENTLY: ['1', 'partitions processed in parallel'],
  KAFKA_MAX_BYTES_PER_PARTITION: ['4194304', 'fetch size per partition'],
  KAFKA_APPEND_CHUNK_SIZE: ['4000', 'events per durable append and offset commit'],
  KAFKA_MAX_MESSAGE_BYTES: ['262144', 'larger messages are dead-lettered'],
  KAFKA_RETRY_INITIAL_MS: ['200', 'first backoff after a transient failure'],
  KAFKA_RETRY_MAX_MS: ['10000', 'backoff cap'],
  KAFKA_PROCESSING_MAX_ATTEMPTS: ['3', 'attempts before a message failing with a processing error is dead-lettered'],
  KAFKA_INGEST_HEALTH_PORT: ['3002', 'readiness/liveness HTTP port; 0 disables'],
  KAFKA_LOG_LEVEL: ['warn', 'error | warn | info | debug'],
} as const;

type Env = Record<string, string | undefined>;

export function loadKafkaIngestConfig(env: Env = process.env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): KafkaIngestConfig {
  const problems: string[] = [];
  const raw = (name: keyof typeof KAFKA_INGEST_ENV): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const str = (name: keyof typeof KAFKA_INGEST_ENV, fallback: string, pattern?: RegExp, what?: string): string => {
    const v = raw(name) ?? fallback;
    if (pattern && !pattern.test(v)) problems.push(`${name}=${JSON.stringify(v)}: ${what}`);
    return v;
  };
  const int = (name: keyof typeof KAFKA_INGEST_ENV, fallback: number, min: number, max: number): number => {
    const v = raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(v)}: must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const bool = (name: keyof typeof KAFKA_INGEST_ENV, fallback: boolean): boolean => {
    const v = raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['true', '1', 'yes'].includes(v)) return true;
    if (['false', '0', 'no'].includes(v)) return false;
    problems.push(`${name}=${JSON.stringify(v)}: must be true or false`);
    return fallback;
  };
  const file = (name: keyof typeof KAFKA_INGEST_ENV): string | undefined => {
    const p = raw(name);
    if (p === undefined) return undefined;
    try {
      return readFile(p);
    } catch (e) {
      problems.push(`${name}: cannot read ${p} (${(e as Error).message})`);
      return undefined;
    }
  };

  const topicName = /^[a-zA-Z0-9._-]{1,249}$/;
  const topicWhat = 'must be a Kafka topic name (letters, digits, ".", "_", "-"; at most 249)';

  const brokersRaw = str('KAFKA_BROKERS', '127.0.0.1:9092');
  const brokers = brokersRaw.split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) problems.push('KAFKA_BROKERS: must name at least one host:port');
  for (const b of brokers) {
    const m = /^(\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]+):(\d{1,5})$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) problems.push(`KAFKA_BROKERS: ${JSON.stringify(b)} is not host:port`);
  }

  const topic = str('KAFKA_TOPIC', 'cem.touchpoints.v1', topicName, topicWhat);
  const dlqTopic = str('KAFKA_DLQ_TOPIC', `${topic}.dlq`, topicName, topicWhat);
  if (dlqTopic === topic) problems.push('KAFKA_DLQ_TOPIC: must differ from KAFKA_TOPIC');

  const ca = file('KAFKA_SSL_CA_FILE');
  const cert = file('KAFKA_SSL_CERT_FILE');
  const key = file('KAFKA_SSL_KEY_FILE');
  if ((cert === undefined) !== (key === undefined) && !problems.some((p) => p.startsWith('KAFKA_SSL_'))) {
    problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: set both or neither');
  }
  const sslOn = bool('KAFKA_SSL', false) || ca !== undefined || cert !== undefined;
  const rejectUnauthorized = bool('KAFKA_SSL_REJECT_UNAUTHORIZED', true);

  let sasl: KafkaIngestConfig['sasl'];
  const mechanism = raw('KAFKA_SASL_MECHANISM')?.toLowerCase();
  if (mechanism !== undefined) {
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      problems.push(`KAFKA_SASL_MECHANISM=${JSON.stringify(mechanism)}: must be plain, scram-sha-256 or scram-sha-512`);
    }
    const username = raw('KAFKA_SASL_USERNAME');
    const password = env.KAFKA_SASL_PASSWORD;
    if (username === undefined) problems.push('KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is set');
    if (password === undefined || password === '') problems.push('KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set');
    sasl = { mechanism: mechanism as 'plain', username: username ?? '', password: password ?? '' };
  } else if (raw('KAFKA_SASL_USERNAME') !== undefined || (env.KAFKA_SASL_PASSWORD ?? '') !== '') {
    problems.push('KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set');
  }

  const sessionTimeoutMs = int('KAFKA_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000);
  const heartbeatIntervalMs = int('KAFKA_HEARTBEAT_INTERVAL_MS', 3_000, 100, 100_000);
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    problems.push('KAFKA_HEARTBEAT_INTERVAL_MS: must be at most a third of KAFKA_SESSION_TIMEOUT_MS');
  }
  const retryInitialMs = int('KAFKA_RETRY_INITIAL_MS', 200, 1, 60_000);
  const retryMaxMs = int('KAFKA_RETRY_MAX_MS', 10_000, 1, 300_000);
  if (retryMaxMs < retryInitialMs) problems.push('KAFKA_RETRY_MAX_MS: must be at least KAFKA_RETRY_INITIAL_MS');
  const logLevel = str('KAFKA_LOG_LEVEL', 'warn', /^(error|warn|info|debug)$/, 'must be error, warn, info or debug');

  const config: KafkaIngestConfig = {
    brokers,
    clientId: str('KAFKA_CLIENT_ID', 'cem-platform', /^[a-zA-Z0-9._-]{1,200}$/, 'must be letters, digits, ".", "_" or "-"'),
    groupId: str('KAFKA_GROUP_ID', 'cem-ingest', /^[a-zA-Z0-9._-]{1,200}$/, 'must be letters, digits, ".", "_" or "-"'),
    topic,
    dlqTopic,
    fromBeginning: bool('KAFKA_FROM_BEGINNING', true),
    createTopics: bool('KAFKA_CREATE_TOPICS', false),
    ssl: sslOn ? { rejectUnauthorized, ...(ca ? { ca: [ca] } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } : false,
    ...(sasl ? { sasl } : {}),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    partitionsConcurrently: int('KAFKA_PARTITIONS_CONCURRENTLY', 1, 1, 64),
    maxBytesPerPartition: int('KAFKA_MAX_BYTES_PER_PARTITION', 4_194_304, 1_024, 104_857_600),
    appendChunkSize: int('KAFKA_APPEND_CHUNK_SIZE', 4_000, 1, 100_000),
    maxMessageBytes: int('KAFKA_MAX_MESSAGE_BYTES', 262_144, 64, 16_777_216),
    retryInitialMs,
    retryMaxMs,
    processingMaxAttempts: int('KAFKA_PROCESSING_MAX_ATTEMPTS', 3, 1, 100),
    healthPort: int('KAFKA_INGEST_HEALTH_PORT', 3_002, 0, 65_535),
    logLevel: logLevel as KafkaIngestConfig['logLevel'],
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The configuration with secrets masked, for a boot log line. */
export function describeConfig(c: KafkaIngestConfig): Record<string, unknown> {
  return {
    ...c,
    ssl: c.ssl ? { rejectUnauthorized: c.ssl.rejectUnauthorized, ca: Boolean(c.ssl.ca), clientCert: Boolean(c.ssl.cert) } : false,
    sasl: c.sasl ? { mechanism: c.sasl.mechanism, username: c.sasl.username, password: '***' } : undefined,
  };
}
