import { readFileSync } from 'node:fs';
import { plainToInstance, Transform } from 'class-transformer';
import { esdbConnectionStringProblems } from '@cem/event-store/esdb/connection-string';
import { secretKeyProblem } from '@cem/privacy/keys/master-key';
import { DEFAULT_REPEAT_CONTACT_WINDOW_DAYS, parseContactCosts } from './experience-metrics-settings';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

/** '' and blanks are "not set"; values are trimmed (secrets excepted, see `secret`) */
const text = () => Transform(({ value }) => (typeof value === 'string' ? (value.trim() === '' ? undefined : value.trim()) : value));
const secret = () => Transform(({ value }) => (value === '' ? undefined : value));
const lower = () =>
  Transform(({ value }) => (typeof value === 'string' ? (value.trim() === '' ? undefined : value.trim().toLowerCase()) : value));

/** An integer variable in [min, max]; anything else is reported as one problem naming the range. */
function Int(min: number, max: number): PropertyDecorator {
  const message = `must be an integer from ${min} to ${max}`;
  const decorators = [
    Transform(({ value }) => {
      if (typeof value !== 'string') return value;
      const v = value.trim();
      if (v === '') return undefined;
      return /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : v;
    }),
    IsInt({ message }),
    Min(min, { message }),
    Max(max, { message }),
  ];
  return (target, key) => decorators.forEach((d) => d(target, key as string));
}

/** true/1/yes or false/0/no, any case. */
function Bool(): PropertyDecorator {
  const decorators = [
    Transform(({ value }) => {
      if (typeof value !== 'string') return value;
      const v = value.trim().toLowerCase();
      if (v === '') return undefined;
      return ['true', '1', 'yes'].includes(v) ? true : ['false', '0', 'no'].includes(v) ? false : value;
    }),
    IsBoolean({ message: 'must be true or false' }),
  ];
  return (target, key) => decorators.forEach((d) => d(target, key as string));
}

const oneOf = (values: readonly string[]) => IsIn(values, { message: `must be one of ${values.join(', ')}` });
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
const topicName = () => Matches(TOPIC, { message: 'must be a Kafka topic name (letters, digits, ".", "_", "-"; at most 249)' });
const kafkaId = () => Matches(/^[a-zA-Z0-9._-]{1,200}$/, { message: 'must be letters, digits, ".", "_" or "-" (at most 200)' });

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export const KAFKA_LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type KafkaLogLevel = (typeof KAFKA_LOG_LEVELS)[number];
export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';
/** one entry of WEBHOOK_ALLOWED_HOSTS: a host name, an IPv4 literal, an IPv6 literal (brackets optional), or `*.domain` */
const WEBHOOK_HOST = /^(\*\.)?[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$|^\[?[0-9a-fA-F:.]+\]?$/;
/** the topic the customer-signals publisher writes to unless KAFKA_SIGNALS_TOPIC says otherwise */
export const DEFAULT_SIGNALS_TOPIC_NAME = 'cem.customer-signals.v1';

/**
 * Every setting of the platform, for every process (api, projector, kafka-ingest, the customer-signals
 * publisher, the ops CLI), read from environment variables and validated once at boot: a process
 * refuses to start on any problem, even in a variable it does not use. Each process then reads the
 * part it needs (see ./views.ts for the Kafka views). The configuration tables of README.md and
 * apps/kafka-ingest/README.md list the same names and defaults.
 */
export class AppConfig {
  // --- HTTP API ---
  @Int(0, 65535) PORT = 3000;
  @text() @IsString() HOST = '127.0.0.1';

  // --- storage ---
  @text() @IsString() DATA_DIR = './data';
  @text() @oneOf(['sqlite', 'esdb']) EVENT_STORE: 'sqlite' | 'esdb' = 'sqlite';
  /** checked in loadConfig (esdbConnectionStringProblems): scheme, options that break the adapter's guarantees */
  @text() @IsOptional() @IsString() ESDB_CONNECTION_STRING?: string;
  @text() @oneOf(['FULL', 'NORMAL']) SQLITE_SYNCHRONOUS: 'FULL' | 'NORMAL' = 'FULL';

  // --- personal data (docs/privacy.md) ---
  /**
   * 32 random bytes (base64 or hex) wrapping the per-customer data keys of `<DATA_DIR>/keys.db`;
   * set: personal data is stored encrypted and can be erased; secret: never shown (checked in loadConfig)
   */
  @secret() @IsOptional() @IsString() PRIVACY_MASTER_KEY?: string;
  /** PEM file of the Ed25519 private key that signs log checkpoints (`cem log checkpoint`); the file is the secret, keep it owner-only */
  @text() @IsOptional() @IsString() LOG_CHECKPOINT_KEY_FILE?: string;
  /** EVENT_STORE=esdb: the API seals the log's hash chain this often (seconds); 0: only `cem log seal` does */
  @Int(0, 86_400) LOG_SEAL_INTERVAL_S = 60;
  /** 32 random bytes (base64 or hex) keying the content digests of encrypted events; required with PRIVACY_MASTER_KEY; secret */
  @secret() @IsOptional() @IsString() PRIVACY_INDEX_SECRET?: string;

  // --- read side ---
  /** `embedded`: the API process also runs the projector; `external`: apps/projector does */
  @text() @oneOf(['embedded', 'external']) PROJECTOR: 'embedded' | 'external' = 'embedded';
  /** `sqlite`: `<DATA_DIR>/read-models.db`; `postgres`: the database at DATABASE_URL */
  @text() @oneOf(['sqlite', 'postgres']) READ_STORE: 'sqlite' | 'postgres' = 'sqlite';
  /** postgres://user:password@host:port/database (READ_STORE=postgres); secret: never shown */
  @text() @IsOptional() @IsString() DATABASE_URL?: string;
  /** most events per read-store transaction of the projector; unset: the projector's default */
  @IsOptional() @Int(1, 50_000) PROJECTOR_BATCH_SIZE?: number;
  /**
   * what the projector does with a read model whose stored copy another version of the code projected:
   * `hold` (serve the old copy, readiness says `rebuild-needed`, `cem rebuild` switches in a new one) or
   * `rebuild-in-place` (empty it and project it again from position 0 at start); docs/operations.md
   */
  @text() @oneOf(['hold', 'rebuild-in-place']) READ_MODEL_VERSION_CHANGE: 'hold' | 'rebuild-in-place' = 'hold';
  /** IANA time zone the experience metrics are bucketed in (read by the read model from the environment; a change rebuilds it) */
  @text() @IsString() METRICS_TIME_ZONE = 'UTC';
  /** minutes between two re-scorings of every customer for churn-band changes (where the projector runs) */
  @Int(1, 1440) CHURN_RESCORING_INTERVAL_MINUTES = 15;
  /** seconds between two evaluations of every customer against every segment, as time passes (where the projector runs) */
  @Int(10, 86_400) SEGMENTS_INTERVAL_SECONDS = 60;
  /**
   * probabilities where the medium, high and critical churn bands start, for the prior model and as the
   * default of `cem churn fit --bands`; a fitted model keeps the thresholds it was fitted with (checked in loadConfig)
   */
  @text() @IsString() CHURN_BAND_THRESHOLDS = '0.25,0.5,0.75';
  /** cost of one handled contact per channel, JSON (checked in loadConfig); unset: the cost-to-serve metric is not available */
  @text() @IsOptional() @IsString() CONTACT_COSTS?: string;
  /** days within which a contact with the same reason makes a contact a repeat (a change rebuilds the experience metrics) */
  @Int(1, 365) REPEAT_CONTACT_WINDOW_DAYS = DEFAULT_REPEAT_CONTACT_WINDOW_DAYS;

  // --- ingestion ---
  /** `role[+role]:key` pairs, comma separated, for automated deployments; hashed at boot, never logged */
  @secret() @IsOptional() @IsString() API_KEYS?: string;
  @Int(1, 10_000) INGEST_MAX_BATCH_EVENTS = 1000;
  @Int(1024, 64 * 1024 * 1024) INGEST_MAX_BODY_BYTES = 1024 * 1024;
  @Int(0, 86_400) MAX_FUTURE_SKEW_SECONDS = 300;
  @text()
  @IsOptional()
  @Matches(/^[A-Z]{2}$/, { message: 'must be an ISO-3166 alpha-2 code such as NL' })
  DEFAULT_PHONE_REGION?: string;

  // --- Kafka connection (kafka-ingest, customer-signals, `cem kafka redrive`) ---
  /** comma-separated host:port list (checked in loadConfig) */
  @text() @IsString() KAFKA_BROKERS = '127.0.0.1:9092';
  @text() @kafkaId() KAFKA_CLIENT_ID = 'cem-platform';
  @Bool() KAFKA_SSL = false;
  @text() @IsOptional() @IsString() KAFKA_SSL_CA_FILE?: string;
  @text() @IsOptional() @IsString() KAFKA_SSL_CERT_FILE?: string;
  @text() @IsOptional() @IsString() KAFKA_SSL_KEY_FILE?: string;
  @Bool() KAFKA_SSL_REJECT_UNAUTHORIZED = true;
  @lower()
  @IsOptional()
  @IsIn(['plain', 'scram-sha-256', 'scram-sha-512'], { message: 'must be plain, scram-sha-256 or scram-sha-512' })
  KAFKA_SASL_MECHANISM?: KafkaSaslMechanism;
  @text() @IsOptional() @IsString() KAFKA_SASL_USERNAME?: string;
  @secret() @IsOptional() @IsString() KAFKA_SASL_PASSWORD?: string;
  /** create missing topics at boot (dev/test; off in production) */
  @Bool() KAFKA_CREATE_TOPICS = false;
  /** backoff after a transient store or broker failure: initial, doubling, capped */
  @Int(1, 60_000) KAFKA_RETRY_INITIAL_MS = 200;
  @Int(1, 300_000) KAFKA_RETRY_MAX_MS = 10_000;
  /** what the Kafka client library itself logs (the process logs at LOG_LEVEL) */
  @text() @oneOf(KAFKA_LOG_LEVELS) KAFKA_LOG_LEVEL: KafkaLogLevel = 'warn';

  // --- kafka-ingest (touch-point consumer) ---
  @text() @kafkaId() KAFKA_GROUP_ID = 'cem-ingest';
  @text() @topicName() KAFKA_TOPIC = 'cem.touchpoints.v1';
  /** `<KAFKA_TOPIC>.dlq` unless set */
  @text() @IsOptional() @topicName() KAFKA_DLQ_TOPIC?: string;
  /** a new consumer group starts at the earliest offset (true) or only sees new messages (false) */
  @Bool() KAFKA_FROM_BEGINNING = true;
  @Int(6_000, 300_000) KAFKA_SESSION_TIMEOUT_MS = 30_000;
  @Int(100, 100_000) KAFKA_HEARTBEAT_INTERVAL_MS = 3_000;
  @Int(1, 64) KAFKA_PARTITIONS_CONCURRENTLY = 1;
  @Int(1_024, 104_857_600) KAFKA_MAX_BYTES_PER_PARTITION = 4_194_304;
  /** largest number of events per durable append (and per offset commit) */
  @Int(1, 100_000) KAFKA_APPEND_CHUNK_SIZE = 4_000;
  /** messages larger than this go to the dead-letter topic unread */
  @Int(64, 16_777_216) KAFKA_MAX_MESSAGE_BYTES = 262_144;
  /** attempts for a message failing with a non-transient processing error before it is dead-lettered */
  @Int(1, 100) KAFKA_PROCESSING_MAX_ATTEMPTS = 3;
  /** readiness/liveness HTTP port of kafka-ingest; 0 disables */
  @Int(0, 65_535) KAFKA_INGEST_HEALTH_PORT = 3_002;

  // --- customer-signals publisher ---
  @text() @topicName() KAFKA_SIGNALS_TOPIC = DEFAULT_SIGNALS_TOPIC_NAME;
  /** partitions of the signals topic when the publisher creates it (KAFKA_CREATE_TOPICS=true) */
  @Int(1, 1000) KAFKA_SIGNALS_PARTITIONS = 6;
  /** largest number of log events per batch (one acknowledged produce, one checkpoint commit) */
  @Int(1, 100_000) SIGNALS_BATCH_SIZE = 1000;
  /** the publisher's SQLite file; `<DATA_DIR>/signals.db` unless set */
  @text() @IsOptional() @IsString() SIGNALS_DB_FILE?: string;

  // --- webhooks (docs/webhooks.md; the dispatcher runs where the projector runs) ---
  /**
   * comma-separated host names, IP literals or `*.example.com` patterns webhooks may point at
   * (listed hosts may be private); unset: any host whose addresses are public
   */
  @text() @IsOptional() @IsString() WEBHOOK_ALLOWED_HOSTS?: string;
  /** attempts per delivery before it is marked failed */
  @Int(1, 100) WEBHOOK_MAX_ATTEMPTS = 8;
  /** delay before the second attempt, doubling per attempt up to WEBHOOK_RETRY_MAX_MS */
  @Int(10, 3_600_000) WEBHOOK_RETRY_INITIAL_MS = 2_000;
  @Int(10, 86_400_000) WEBHOOK_RETRY_MAX_MS = 600_000;
  /** one request's time limit */
  @Int(100, 120_000) WEBHOOK_TIMEOUT_MS = 10_000;

  // --- every process ---
  /** one JSON logger per process (createLogger) at this level */
  @text() @oneOf(LOG_LEVELS) LOG_LEVEL: LogLevelName = 'info';
}

/** Variables whose values never appear in an error message or a log line. */
const SECRETS = new Set([
  'API_KEYS',
  'KAFKA_SASL_PASSWORD',
  'ESDB_CONNECTION_STRING',
  'DATABASE_URL',
  'PRIVACY_MASTER_KEY',
  'PRIVACY_INDEX_SECRET',
]);

/** Every variable the schema knows (optional ones included). */
export const CONFIG_VARIABLES: readonly string[] = [
  ...Object.keys(new AppConfig()),
  'ESDB_CONNECTION_STRING',
  'DATABASE_URL',
  'PROJECTOR_BATCH_SIZE',
  'API_KEYS',
  'DEFAULT_PHONE_REGION',
  'CONTACT_COSTS',
  'KAFKA_SSL_CA_FILE',
  'KAFKA_SSL_CERT_FILE',
  'KAFKA_SSL_KEY_FILE',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_DLQ_TOPIC',
  'SIGNALS_DB_FILE',
  'WEBHOOK_ALLOWED_HOSTS',
  'PRIVACY_MASTER_KEY',
  'PRIVACY_INDEX_SECRET',
  'LOG_CHECKPOINT_KEY_FILE',
];

/** true for a time zone name Node's ICU knows */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export type ReadFile = (path: string) => string;
export const readUtf8: ReadFile = (p) => readFileSync(p, 'utf8');

export interface LoadConfigOptions {
  /** reads the KAFKA_SSL_*_FILE files, which must be readable when set (tests pass a fake) */
  readFile?: ReadFile;
}

/** `<KAFKA_TOPIC>.dlq` unless KAFKA_DLQ_TOPIC is set */
export const dlqTopicOf = (c: AppConfig): string => c.KAFKA_DLQ_TOPIC ?? `${c.KAFKA_TOPIC}.dlq`;

/** Thresholds of the medium, high and critical churn bands: three rising probabilities in (0, 1), or the reason they are not. */
export function parseChurnBandThresholds(text: string): [number, number, number] | string {
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map((p) => (/^[0-9]*\.?[0-9]+$/.test(p) ? Number(p) : Number.NaN));
  if (parts.length !== 3 || values.some((v) => !(v > 0 && v < 1)) || !(values[0] < values[1] && values[1] < values[2]))
    return 'expected three rising probabilities between 0 and 1 (exclusive), comma separated, e.g. 0.25,0.5,0.75';
  return values as [number, number, number];
}

/** CHURN_BAND_THRESHOLDS parsed (loadConfig has checked it). */
export const churnBandThresholdsOf = (c: AppConfig): [number, number, number] => {
  const parsed = parseChurnBandThresholds(c.CHURN_BAND_THRESHOLDS);
  if (typeof parsed === 'string') throw new ConfigError([`CHURN_BAND_THRESHOLDS: ${parsed}`]);
  return parsed;
};

/** CHURN_RESCORING_INTERVAL_MINUTES in milliseconds. */
export const churnRescoringIntervalMsOf = (c: AppConfig): number => c.CHURN_RESCORING_INTERVAL_MINUTES * 60_000;

/** SEGMENTS_INTERVAL_SECONDS in milliseconds. */
export const segmentsIntervalMsOf = (c: AppConfig): number => c.SEGMENTS_INTERVAL_SECONDS * 1000;

/** KAFKA_BROKERS as a list */
export const brokersOf = (c: AppConfig): string[] =>
  c.KAFKA_BROKERS.split(',')
    .map((b) => b.trim())
    .filter(Boolean);

/**
 * Reads and validates the whole configuration. Throws ConfigError listing every problem at once,
 * each naming its variable (with the value given, secrets excepted) and what is wrong.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): AppConfig {
  const picked: Record<string, unknown> = {};
  // an empty (or blank) variable is not set: its default applies
  for (const key of CONFIG_VARIABLES) if (env[key] !== undefined && String(env[key]).trim() !== '') picked[key] = env[key];
  const config = plainToInstance(AppConfig, picked, { exposeDefaultValues: true });
  const shown = (name: string) => (SECRETS.has(name) || picked[name] === undefined ? name : `${name}=${JSON.stringify(picked[name])}`);
  const errors = validateSync(config);
  const problems = errors.map((e) => `${shown(e.property)}: ${Object.values(e.constraints ?? {})[0] ?? 'invalid'}`);
  const bad = new Set(errors.map((e) => e.property));
  const ok = (...names: string[]) => names.every((n) => !bad.has(n));

  if (config.EVENT_STORE === 'esdb' && !config.ESDB_CONNECTION_STRING)
    problems.push('ESDB_CONNECTION_STRING: required when EVENT_STORE=esdb');
  if (ok('ESDB_CONNECTION_STRING') && config.ESDB_CONNECTION_STRING)
    for (const p of esdbConnectionStringProblems(config.ESDB_CONNECTION_STRING)) problems.push(`ESDB_CONNECTION_STRING: ${p}`);

  if (ok('METRICS_TIME_ZONE') && !isTimeZone(config.METRICS_TIME_ZONE))
    problems.push(`${shown('METRICS_TIME_ZONE')}: unknown time zone (an IANA name such as Europe/Berlin, or UTC)`);

  if (ok('CHURN_BAND_THRESHOLDS')) {
    const thresholds = parseChurnBandThresholds(config.CHURN_BAND_THRESHOLDS);
    if (typeof thresholds === 'string') problems.push(`${shown('CHURN_BAND_THRESHOLDS')}: ${thresholds}`);
  }
  if (ok('CONTACT_COSTS') && config.CONTACT_COSTS !== undefined)
    for (const p of parseContactCosts(config.CONTACT_COSTS).problems) problems.push(`CONTACT_COSTS: ${p}`);

  for (const name of ['PRIVACY_MASTER_KEY', 'PRIVACY_INDEX_SECRET'] as const) {
    const value = config[name];
    if (value !== undefined && secretKeyProblem(value)) problems.push(`${name}: ${secretKeyProblem(value)}`);
  }
  if ((config.PRIVACY_MASTER_KEY === undefined) !== (config.PRIVACY_INDEX_SECRET === undefined))
    problems.push('PRIVACY_MASTER_KEY and PRIVACY_INDEX_SECRET: set both or neither');
  if (config.PRIVACY_MASTER_KEY !== undefined && config.PRIVACY_MASTER_KEY === config.PRIVACY_INDEX_SECRET)
    problems.push('PRIVACY_INDEX_SECRET: must differ from PRIVACY_MASTER_KEY');

  if (config.READ_STORE === 'postgres' && !config.DATABASE_URL) problems.push('DATABASE_URL: required when READ_STORE=postgres');
  if (config.DATABASE_URL !== undefined) {
    const problem = databaseUrlProblem(config.DATABASE_URL);
    if (problem) problems.push(`DATABASE_URL: ${problem}`);
  }

  if (ok('KAFKA_BROKERS')) {
    const brokers = brokersOf(config);
    if (brokers.length === 0) problems.push('KAFKA_BROKERS: must name at least one host:port');
    for (const b of brokers) {
      const m = /^(\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]+):(\d{1,5})$/.exec(b);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) problems.push(`KAFKA_BROKERS: ${JSON.stringify(b)} is not host:port`);
    }
  }
  if (ok('KAFKA_TOPIC', 'KAFKA_DLQ_TOPIC') && dlqTopicOf(config) === config.KAFKA_TOPIC)
    problems.push('KAFKA_DLQ_TOPIC: must differ from KAFKA_TOPIC');
  if (
    ok('KAFKA_TOPIC', 'KAFKA_DLQ_TOPIC', 'KAFKA_SIGNALS_TOPIC') &&
    [config.KAFKA_TOPIC, dlqTopicOf(config)].includes(config.KAFKA_SIGNALS_TOPIC)
  ) {
    problems.push('KAFKA_SIGNALS_TOPIC: must differ from KAFKA_TOPIC and KAFKA_DLQ_TOPIC');
  }
  if (config.WEBHOOK_ALLOWED_HOSTS !== undefined) {
    for (const h of config.WEBHOOK_ALLOWED_HOSTS.split(',').map((x) => x.trim())) {
      if (!WEBHOOK_HOST.test(h))
        problems.push(`WEBHOOK_ALLOWED_HOSTS: ${JSON.stringify(h)} is not a host name, IP address or *.domain pattern`);
    }
  }
  if (ok('WEBHOOK_RETRY_INITIAL_MS', 'WEBHOOK_RETRY_MAX_MS') && config.WEBHOOK_RETRY_MAX_MS < config.WEBHOOK_RETRY_INITIAL_MS)
    problems.push('WEBHOOK_RETRY_MAX_MS: must be at least WEBHOOK_RETRY_INITIAL_MS');
  if (
    ok('KAFKA_SESSION_TIMEOUT_MS', 'KAFKA_HEARTBEAT_INTERVAL_MS') &&
    config.KAFKA_HEARTBEAT_INTERVAL_MS * 3 > config.KAFKA_SESSION_TIMEOUT_MS
  ) {
    problems.push('KAFKA_HEARTBEAT_INTERVAL_MS: must be at most a third of KAFKA_SESSION_TIMEOUT_MS');
  }
  if (ok('KAFKA_RETRY_INITIAL_MS', 'KAFKA_RETRY_MAX_MS') && config.KAFKA_RETRY_MAX_MS < config.KAFKA_RETRY_INITIAL_MS) {
    problems.push('KAFKA_RETRY_MAX_MS: must be at least KAFKA_RETRY_INITIAL_MS');
  }

  // TLS files: readable when set; a client certificate needs its key and the other way round
  const readFile = options.readFile ?? readUtf8;
  let unreadable = false;
  for (const name of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) {
    const path = config[name];
    if (path === undefined) continue;
    try {
      readFile(path);
    } catch (e) {
      unreadable = true;
      problems.push(`${name}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (!unreadable && (config.KAFKA_SSL_CERT_FILE === undefined) !== (config.KAFKA_SSL_KEY_FILE === undefined)) {
    problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: set both or neither');
  }

  // SASL: a mechanism needs credentials, and credentials need a mechanism
  if (config.KAFKA_SASL_MECHANISM !== undefined) {
    if (config.KAFKA_SASL_USERNAME === undefined) problems.push('KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is set');
    if (config.KAFKA_SASL_PASSWORD === undefined) problems.push('KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set');
  } else if (
    config.KAFKA_SASL_MECHANISM === undefined &&
    (config.KAFKA_SASL_USERNAME !== undefined || config.KAFKA_SASL_PASSWORD !== undefined)
  ) {
    problems.push('KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set');
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * What is wrong with a PostgreSQL URL, if anything (the read store checks it again when it
 * connects). Never quotes the URL: it may hold a password.
 */
export function databaseUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL (expected postgres://user:password@host:5432/database)';
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return 'must start with postgres:// or postgresql://';
  if (!parsed.hostname) return 'names no host (expected postgres://user:password@host:5432/database)';
  if (!parsed.username) return 'names no user (expected postgres://user:password@host:5432/database)';
  const database = parsed.pathname.replace(/^\//, '');
  if (!database || database.includes('/')) return 'must name one database after the host (postgres://user:password@host:5432/database)';
  return undefined;
}
