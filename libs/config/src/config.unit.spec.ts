import { churnBandThresholdsOf, churnRescoringIntervalMsOf, ConfigError, loadConfig, segmentsIntervalMsOf } from './config';
import { contactCostsOf, repeatContactWindowDaysOf } from './experience-metrics-settings';
import { createLogger } from './logger';
import { describeKafkaConfig, loadKafkaIngestConfig, loadSignalsConfig, webhooksConfig } from './views';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('the platform configuration', () => {
  it('has working defaults for every process', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 3000,
      DATA_DIR: './data',
      EVENT_STORE: 'sqlite',
      READ_STORE: 'sqlite',
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: '127.0.0.1:9092',
    });
    expect(c.PROJECTOR_BATCH_SIZE).toBeUndefined();
  });

  it('reports every problem at once, each naming its variable, the value given and why', () => {
    const problems = problemsOf(() =>
      loadConfig({ PORT: 'eighty', EVENT_STORE: 'mongo', INGEST_MAX_BATCH_EVENTS: '0', PROJECTOR_BATCH_SIZE: '50001', LOG_LEVEL: 'loud' }),
    );
    expect(problems).toEqual([
      'PORT="eighty": must be an integer from 0 to 65535',
      'EVENT_STORE="mongo": must be one of sqlite, esdb',
      'PROJECTOR_BATCH_SIZE="50001": must be an integer from 1 to 50000',
      'INGEST_MAX_BATCH_EVENTS="0": must be an integer from 1 to 10000',
      'LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent',
    ]);
  });

  it('CHURN_RESCORING_INTERVAL_MINUTES: 1 to 1440 minutes, default 15; anything else is refused naming the variable', () => {
    expect(churnRescoringIntervalMsOf(loadConfig({}))).toBe(15 * 60_000);
    expect(churnRescoringIntervalMsOf(loadConfig({ CHURN_RESCORING_INTERVAL_MINUTES: '60' }))).toBe(3_600_000);
    for (const bad of ['0', '1441', '1.5', 'hourly', '-5'])
      expect(() => loadConfig({ CHURN_RESCORING_INTERVAL_MINUTES: bad })).toThrow(
        `CHURN_RESCORING_INTERVAL_MINUTES=${JSON.stringify(bad)}: must be an integer from 1 to 1440`,
      );
  });

  it('SEGMENTS_INTERVAL_SECONDS: 10 to 86400 seconds, default 60; anything else is refused naming the variable', () => {
    expect(segmentsIntervalMsOf(loadConfig({}))).toBe(60_000);
    expect(segmentsIntervalMsOf(loadConfig({ SEGMENTS_INTERVAL_SECONDS: '300' }))).toBe(300_000);
    for (const bad of ['0', '9', '86401', '1.5', 'minutely', '-60'])
      expect(() => loadConfig({ SEGMENTS_INTERVAL_SECONDS: bad })).toThrow(
        `SEGMENTS_INTERVAL_SECONDS=${JSON.stringify(bad)}: must be an integer from 10 to 86400`,
      );
  });

  it('CHURN_BAND_THRESHOLDS: three rising probabilities in (0, 1), default 0.25,0.5,0.75; anything else is refused naming the variable', () => {
    expect(churnBandThresholdsOf(loadConfig({}))).toEqual([0.25, 0.5, 0.75]);
    expect(churnBandThresholdsOf(loadConfig({ CHURN_BAND_THRESHOLDS: ' 0.1, 0.3,.6 ' }))).toEqual([0.1, 0.3, 0.6]);
    for (const bad of [
      '0.5,0.25,0.75',
      '0.25,0.5',
      '0.25,0.5,0.75,0.9',
      '0,0.5,0.75',
      '0.25,0.5,1',
      '0.25,0.25,0.75',
      'low,mid,high',
      '0.25,0.5,7e-1',
    ])
      expect(() => loadConfig({ CHURN_BAND_THRESHOLDS: bad })).toThrow(
        `CHURN_BAND_THRESHOLDS=${JSON.stringify(bad)}: expected three rising probabilities between 0 and 1`,
      );
  });

  it('METRICS_TIME_ZONE: an IANA time zone, default UTC; an unknown one is refused naming the variable', () => {
    expect(loadConfig({}).METRICS_TIME_ZONE).toBe('UTC');
    expect(loadConfig({ METRICS_TIME_ZONE: 'Europe/Berlin' }).METRICS_TIME_ZONE).toBe('Europe/Berlin');
    expect(() => loadConfig({ METRICS_TIME_ZONE: 'Mars/Olympus' })).toThrow(/METRICS_TIME_ZONE="Mars\/Olympus": unknown time zone/);
  });

  it('CONTACT_COSTS: a JSON object of channel to cost; unset is not configured; each bad entry refused naming its key', () => {
    expect(loadConfig({}).CONTACT_COSTS).toBeUndefined();
    expect(contactCostsOf({})).toBeNull();
    expect(contactCostsOf({ CONTACT_COSTS: '  ' })).toBeNull();
    expect(loadConfig({ CONTACT_COSTS: '{"phone":4.5,"chat":1.2,"email":0}' }).CONTACT_COSTS).toBe('{"phone":4.5,"chat":1.2,"email":0}');
    expect(contactCostsOf({ CONTACT_COSTS: '{"phone":4.5,"chat":1.2}' })).toEqual({ phone: 4.5, chat: 1.2 });
    const problems = (value: string) => {
      try {
        loadConfig({ CONTACT_COSTS: value });
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problems('{"phone":-1,"chat":"cheap","email":1e9," ":2}')).toEqual([
      'CONTACT_COSTS: "phone": the cost must be a number from 0 to 1000000 (got -1)',
      'CONTACT_COSTS: "chat": the cost must be a number from 0 to 1000000 (got "cheap")',
      'CONTACT_COSTS: "email": the cost must be a number from 0 to 1000000 (got 1000000000)',
      'CONTACT_COSTS: " ": a channel name is 1 to 200 characters',
    ]);
    expect(problems('phone=4.5')).toEqual(['CONTACT_COSTS: must be a JSON object of channel to cost, such as {"phone":4.5,"chat":1.2}']);
    expect(problems('[4.5]')).toEqual(['CONTACT_COSTS: must be a JSON object of channel to cost, such as {"phone":4.5,"chat":1.2}']);
    expect(problems('{}')).toEqual(['CONTACT_COSTS: names no channel (leave it unset when no cost is known)']);
  });

  it('REPEAT_CONTACT_WINDOW_DAYS: whole days 1 to 365, default 7; the read model falls back to 7 on a value the boot check refuses', () => {
    expect(loadConfig({}).REPEAT_CONTACT_WINDOW_DAYS).toBe(7);
    expect(loadConfig({ REPEAT_CONTACT_WINDOW_DAYS: '14' }).REPEAT_CONTACT_WINDOW_DAYS).toBe(14);
    expect(() => loadConfig({ REPEAT_CONTACT_WINDOW_DAYS: '0' })).toThrow(
      /REPEAT_CONTACT_WINDOW_DAYS="0": must be an integer from 1 to 365/,
    );
    expect(() => loadConfig({ REPEAT_CONTACT_WINDOW_DAYS: '2.5' })).toThrow(/REPEAT_CONTACT_WINDOW_DAYS="2.5": must be an integer/);
    expect(repeatContactWindowDaysOf({ REPEAT_CONTACT_WINDOW_DAYS: '30' })).toBe(30);
    expect(repeatContactWindowDaysOf({ REPEAT_CONTACT_WINDOW_DAYS: '400' })).toBe(7);
    expect(repeatContactWindowDaysOf({})).toBe(7);
  });

  it('READ_STORE: sqlite or postgres; postgres needs a well-formed DATABASE_URL, which is never shown (it may hold a password)', () => {
    expect(loadConfig({ READ_STORE: 'postgres', DATABASE_URL: 'postgres://cem:secret@db:5432/cem' })).toMatchObject({
      READ_STORE: 'postgres',
      DATABASE_URL: 'postgres://cem:secret@db:5432/cem',
    });
    expect(problemsOf(() => loadConfig({ READ_STORE: 'mysql' }))).toEqual(['READ_STORE="mysql": must be one of sqlite, postgres']);
    expect(problemsOf(() => loadConfig({ READ_STORE: 'postgres' }))).toEqual(['DATABASE_URL: required when READ_STORE=postgres']);
    const bad = {
      'mysql://u:secret@h/db': 'DATABASE_URL: must start with postgres:// or postgresql://',
      'secret-not-a-url': 'DATABASE_URL: not a URL (expected postgres://user:password@host:5432/database)',
      'postgres://u:secret@h': 'DATABASE_URL: must name one database after the host (postgres://user:password@host:5432/database)',
      'postgres://h/db': 'DATABASE_URL: names no user (expected postgres://user:password@host:5432/database)',
    };
    for (const [url, problem] of Object.entries(bad)) {
      const problems = problemsOf(() => loadConfig({ READ_STORE: 'postgres', DATABASE_URL: url }));
      expect(problems).toEqual([problem]);
      expect(problems.join()).not.toContain('secret');
    }
  });

  it('needs an EventStoreDB connection string with EVENT_STORE=esdb, and never shows it', () => {
    expect(problemsOf(() => loadConfig({ EVENT_STORE: 'esdb' }))).toEqual(['ESDB_CONNECTION_STRING: required when EVENT_STORE=esdb']);
    expect(problemsOf(() => loadConfig({ EVENT_STORE: 'esdb', ESDB_CONNECTION_STRING: 'http://user:pw@h' }))).toEqual([
      'ESDB_CONNECTION_STRING: must start with esdb:// or esdb+discover://',
    ]);
  });

  it('refuses EventStoreDB connection-string options that break the adapter guarantees, at boot', () => {
    const problems = problemsOf(() =>
      loadConfig({ EVENT_STORE: 'esdb', ESDB_CONNECTION_STRING: 'esdb://u:pw@h:2113?throwOnAppendFailure=false&nodePreference=follower' }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^ESDB_CONNECTION_STRING: throwOnAppendFailure=false is refused/),
      expect.stringMatching(/^ESDB_CONNECTION_STRING: nodePreference=follower is refused/),
    ]);
    expect(problems.join(' ')).not.toContain('pw@');
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', DEFAULT_PHONE_REGION: ' ', KAFKA_SASL_PASSWORD: '' })).toMatchObject({
      PORT: 3000,
      DEFAULT_PHONE_REGION: undefined,
      KAFKA_SASL_PASSWORD: undefined,
    });
  });
});

describe('kafka-ingest view', () => {
  it('has working defaults', () => {
    const c = loadKafkaIngestConfig({});
    expect(c).toMatchObject({
      brokers: ['127.0.0.1:9092'],
      topic: 'cem.touchpoints.v1',
      dlqTopic: 'cem.touchpoints.v1.dlq',
      groupId: 'cem-ingest',
      ssl: false,
      fromBeginning: true,
      appendChunkSize: 4000,
      logLevel: 'warn',
      healthPort: 3002,
    });
    expect(c.sasl).toBeUndefined();
  });

  it('derives the dead-letter topic from the topic and parses lists, numbers and booleans', () => {
    const c = loadKafkaIngestConfig({
      KAFKA_TOPIC: 'cc.interactions',
      KAFKA_BROKERS: 'k1:9092, k2:9093',
      KAFKA_APPEND_CHUNK_SIZE: '200',
      KAFKA_FROM_BEGINNING: 'no',
    });
    expect(c).toMatchObject({
      dlqTopic: 'cc.interactions.dlq',
      brokers: ['k1:9092', 'k2:9093'],
      appendChunkSize: 200,
      fromBeginning: false,
    });
  });

  it('reports every problem at once, naming the variable', () => {
    const text = problemsOf(() =>
      loadKafkaIngestConfig({
        KAFKA_BROKERS: 'nohost',
        KAFKA_TOPIC: 'bad topic!',
        KAFKA_APPEND_CHUNK_SIZE: '0',
        KAFKA_SSL: 'maybe',
        KAFKA_SASL_MECHANISM: 'gssapi',
        KAFKA_HEARTBEAT_INTERVAL_MS: '20000',
        KAFKA_LOG_LEVEL: 'loud',
      }),
    ).join('\n');
    for (const name of [
      'KAFKA_BROKERS',
      'KAFKA_TOPIC',
      'KAFKA_APPEND_CHUNK_SIZE',
      'KAFKA_SSL',
      'KAFKA_SASL_MECHANISM',
      'KAFKA_SASL_USERNAME',
      'KAFKA_SASL_PASSWORD',
      'KAFKA_HEARTBEAT_INTERVAL_MS',
      'KAFKA_LOG_LEVEL',
    ]) {
      expect(text).toContain(name);
    }
  });

  it('SASL needs credentials, and credentials need a mechanism; the password is never shown', () => {
    expect(() => loadKafkaIngestConfig({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_MECHANISM: required/);
    const c = loadKafkaIngestConfig({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 's3cret' });
    expect(c.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 's3cret' });
    expect(JSON.stringify(describeKafkaConfig(c))).not.toContain('s3cret');
    expect(
      problemsOf(() =>
        loadConfig({
          KAFKA_SASL_MECHANISM: 'plain',
          KAFKA_SASL_USERNAME: 'svc',
          KAFKA_SASL_PASSWORD: 's3cret',
          API_KEYS: 7 as unknown as string,
        }),
      ).join(),
    ).not.toContain('s3cret');
  });

  it('TLS files imply TLS and must be readable', () => {
    const files: Record<string, string> = { '/ca.pem': 'CA' };
    const read = (p: string) => {
      if (!(p in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return files[p]!;
    };
    expect(loadKafkaIngestConfig({ KAFKA_SSL_CA_FILE: '/ca.pem' }, read).ssl).toEqual({ rejectUnauthorized: true, ca: ['CA'] });
    expect(() => loadKafkaIngestConfig({ KAFKA_SSL_CA_FILE: '/missing.pem' }, read)).toThrow(
      /KAFKA_SSL_CA_FILE: cannot read \/missing.pem \(ENOENT\)/,
    );
    expect(() => loadKafkaIngestConfig({ KAFKA_SSL_CERT_FILE: '/ca.pem' }, read)).toThrow(/set both or neither/);
  });

  it('refuses a dead-letter topic equal to the source topic', () => {
    expect(() => loadKafkaIngestConfig({ KAFKA_TOPIC: 't', KAFKA_DLQ_TOPIC: 't' })).toThrow(/KAFKA_DLQ_TOPIC: must differ/);
  });
});

describe('customer-signals view', () => {
  it('has the broker connection of kafka-ingest plus its own variables', () => {
    const c = loadSignalsConfig({
      KAFKA_BROKERS: 'k1:9092',
      KAFKA_CLIENT_ID: 'sig',
      KAFKA_CREATE_TOPICS: 'true',
      KAFKA_RETRY_INITIAL_MS: '50',
      KAFKA_RETRY_MAX_MS: '500',
    });
    expect(c).toEqual({
      brokers: ['k1:9092'],
      clientId: 'sig',
      ssl: false,
      logLevel: 'warn',
      createTopics: true,
      retryInitialMs: 50,
      retryMaxMs: 500,
      topic: 'cem.customer-signals.v1',
      partitions: 6,
      batchSize: 1000,
    });
    expect(
      loadSignalsConfig({ SIGNALS_DB_FILE: '/var/lib/cem/signals.db', SIGNALS_BATCH_SIZE: '10', KAFKA_SIGNALS_PARTITIONS: '3' }),
    ).toMatchObject({
      dbFile: '/var/lib/cem/signals.db',
      batchSize: 10,
      partitions: 3,
    });
  });

  it('validates its variables with the rest', () => {
    const problems = problemsOf(() =>
      loadSignalsConfig({ KAFKA_SIGNALS_TOPIC: 'no spaces', KAFKA_SIGNALS_PARTITIONS: '0', SIGNALS_BATCH_SIZE: 'x', KAFKA_BROKERS: 'bad' }),
    );
    expect(problems.join('\n')).toMatch(/KAFKA_SIGNALS_TOPIC=.*topic name/);
    for (const name of ['KAFKA_SIGNALS_PARTITIONS', 'SIGNALS_BATCH_SIZE', 'KAFKA_BROKERS']) expect(problems.join('\n')).toContain(name);
    expect(() => loadSignalsConfig({ KAFKA_SIGNALS_TOPIC: 'cem.touchpoints.v1.dlq' })).toThrow(
      /KAFKA_SIGNALS_TOPIC: must differ from KAFKA_TOPIC and KAFKA_DLQ_TOPIC/,
    );
  });
});

describe('webhooks configuration', () => {
  it('defaults: any public host, 8 attempts from 2 s doubling up to 10 min, 10 s per request', () => {
    expect(webhooksConfig(loadConfig({}))).toEqual({
      allowedHosts: [],
      maxAttempts: 8,
      retryInitialMs: 2_000,
      retryMaxMs: 600_000,
      timeoutMs: 10_000,
    });
    expect(
      webhooksConfig(loadConfig({ WEBHOOK_ALLOWED_HOSTS: ' Hooks.Example.com, *.partner.example ,[::1],10.0.0.5' })).allowedHosts,
    ).toEqual(['hooks.example.com', '*.partner.example', '::1', '10.0.0.5']);
  });

  it('refuses bad hosts and retry settings at boot, naming the variable', () => {
    const problems = problemsOf(() =>
      loadConfig({
        WEBHOOK_ALLOWED_HOSTS: 'ok.example,a b,https://x.example',
        WEBHOOK_MAX_ATTEMPTS: '0',
        WEBHOOK_RETRY_INITIAL_MS: '5000',
        WEBHOOK_RETRY_MAX_MS: '1000',
      }),
    );
    expect(problems).toEqual([
      'WEBHOOK_MAX_ATTEMPTS="0": must be an integer from 1 to 100',
      'WEBHOOK_ALLOWED_HOSTS: "a b" is not a host name, IP address or *.domain pattern',
      'WEBHOOK_ALLOWED_HOSTS: "https://x.example" is not a host name, IP address or *.domain pattern',
      'WEBHOOK_RETRY_MAX_MS: must be at least WEBHOOK_RETRY_INITIAL_MS',
    ]);
  });
});

describe('the JSON logger', () => {
  const capture = (level: string, stream?: 'stdout' | 'stderr') => {
    const lines: Record<string, unknown>[] = [];
    return {
      lines,
      logger: createLogger({ level, component: 'test', stream, write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }),
    };
  };

  it('writes one JSON object per line with time, level, component, message and fields', () => {
    const { lines, logger } = capture('info');
    logger.info('consuming', { topic: 't', partition: 1 });
    logger.debug('dropped below the level');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', component: 'test', message: 'consuming', topic: 't', partition: 1 });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('serves Nest: log/verbose, object messages with msg, trailing context, error stacks', () => {
    const { lines, logger } = capture('trace');
    logger.log({ msg: 'listening', url: 'http://127.0.0.1:1' }, 'api');
    logger.error('boom', 'Error: boom\n    at x (y.ts:1:1)', 'ExceptionsHandler');
    logger.verbose('mapped', 'RouterExplorer');
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', component: 'api', message: 'listening', url: 'http://127.0.0.1:1' }),
      expect.objectContaining({
        level: 'error',
        component: 'ExceptionsHandler',
        message: 'boom',
        stack: 'Error: boom\n    at x (y.ts:1:1)',
      }),
      expect.objectContaining({ level: 'trace', component: 'RouterExplorer', message: 'mapped' }),
    ]);
  });

  it('silent logs nothing; an unknown level falls back to info', () => {
    const silent = capture('silent');
    silent.logger.error('x');
    expect(silent.lines).toHaveLength(0);
    const fallback = capture('nonsense');
    fallback.logger.info('shown');
    fallback.logger.debug('hidden');
    expect(fallback.lines.map((l) => l.message)).toEqual(['shown']);
  });
});
