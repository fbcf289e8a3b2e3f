import { ConfigError, describeConfig, loadKafkaIngestConfig } from './config';

describe('kafka-ingest configuration', () => {
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
    });
    expect(c.sasl).toBeUndefined();
  });

  it('derives the dead-letter topic from the topic and parses lists, numbers and booleans', () => {
    const c = loadKafkaIngestConfig({ KAFKA_TOPIC: 'cc.interactions', KAFKA_BROKERS: 'k1:9092, k2:9093', KAFKA_APPEND_CHUNK_SIZE: '200', KAFKA_FROM_BEGINNING: 'no' });
    expect(c).toMatchObject({ dlqTopic: 'cc.interactions.dlq', brokers: ['k1:9092', 'k2:9093'], appendChunkSize: 200, fromBeginning: false });
  });

  it('reports every problem at once, naming the variable', () => {
    let error: unknown;
    try {
      loadKafkaIngestConfig({
        KAFKA_BROKERS: 'nohost',
        KAFKA_TOPIC: 'bad topic!',
        KAFKA_APPEND_CHUNK_SIZE: '0',
        KAFKA_SSL: 'maybe',
        KAFKA_SASL_MECHANISM: 'gssapi',
        KAFKA_HEARTBEAT_INTERVAL_MS: '20000',
        KAFKA_LOG_LEVEL: 'loud',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).problems.join('\n');
    for (const name of ['KAFKA_BROKERS', 'KAFKA_TOPIC', 'KAFKA_APPEND_CHUNK_SIZE', 'KAFKA_SSL', 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'KAFKA_HEARTBEAT_INTERVAL_MS', 'KAFKA_LOG_LEVEL']) {
      expect(text).toContain(name);
    }
  });

  it('SASL needs credentials, and credentials need a mechanism; the password is never shown', () => {
    expect(() => loadKafkaIngestConfig({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_MECHANISM: required/);
    const c = loadKafkaIngestConfig({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 's3cret' });
    expect(c.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 's3cret' });
    expect(JSON.stringify(describeConfig(c))).not.toContain('s3cret');
  });

  it('TLS files imply TLS and must be readable', () => {
    const files: Record<string, string> = { '/ca.pem': 'CA' };
    const read = (p: string) => {
      if (!(p in files)) throw new Error('ENOENT');
      return files[p]!;
    };
    expect(loadKafkaIngestConfig({ KAFKA_SSL_CA_FILE: '/ca.pem' }, read).ssl).toEqual({ rejectUnauthorized: true, ca: ['CA'] });
    expect(() => loadKafkaIngestConfig({ KAFKA_SSL_CA_FILE: '/missing.pem' }, read)).toThrow(/KAFKA_SSL_CA_FILE: cannot read/);
  });

  it('refuses a dead-letter topic equal to the source topic', () => {
    expect(() => loadKafkaIngestConfig({ KAFKA_TOPIC: 't', KAFKA_DLQ_TOPIC: 't' })).toThrow(/must differ/);
  });
});
