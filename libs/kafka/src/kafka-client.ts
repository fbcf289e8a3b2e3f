import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig, type logCreator } from 'kafkajs';
import type { KafkaConnectionConfig, Logger } from '@cem/config';

const TO_KAFKAJS = { error: KafkaLogLevel.ERROR, warn: KafkaLogLevel.WARN, info: KafkaLogLevel.INFO, debug: KafkaLogLevel.DEBUG } as const;

/** kafkajs log lines routed to our logger (kafkajs logs no message payloads). */
function creator(logger: Logger): logCreator {
  return () =>
    ({ level, log }) => {
      const { message, timestamp: _t, logger: _l, ...meta } = log as { message: string; [k: string]: unknown };
      const m = { kafkajs: log.namespace ?? true, ...meta };
      if (level === KafkaLogLevel.ERROR) logger.error(message, m);
      else if (level === KafkaLogLevel.WARN) logger.warn(message, m);
      else if (level === KafkaLogLevel.INFO) logger.info(message, m);
      else logger.debug(message, m);
    };
}

/** The kafkajs client for a validated connection view (see kafkaConnectionConfig in @cem/config). */
export function createKafka(config: KafkaConnectionConfig, logger: Logger): Kafka {
  const kc: KafkaConfig = {
    clientId: config.clientId,
    brokers: config.brokers,
    ssl: config.ssl === false ? false : config.ssl,
    logLevel: TO_KAFKAJS[config.logLevel],
    logCreator: creator(logger),
    retry: { initialRetryTime: 300, retries: 8 },
  };
  if (config.sasl) kc.sasl = config.sasl as KafkaConfig['sasl'];
  return new Kafka(kc);
}
