import 'reflect-metadata';
import { openPlatform } from '@cem/platform';
import { describeConfig, loadKafkaIngestConfig } from './config';
import { startHealthServer } from './health.server';
import { ingestionPortFor } from './ingestion.adapter';
import { createKafka } from './kafka-client';
import { KafkaIngestConsumer } from './kafka-ingest.consumer';
import { loadConfigsOrExit } from './load-configs';
import { jsonLogger } from './logger';

/**
 * kafka-ingest: consumes the touch-point topic into the configured event store through the shared
 * ingestion service. Configuration: the platform's variables (DATA_DIR, EVENT_STORE, ...) plus the
 * KAFKA_* variables of ./config.ts, all validated before anything connects.
 */
async function main(): Promise<void> {
  const { appConfig, config } = loadConfigsOrExit('kafka-ingest', () => loadKafkaIngestConfig());

  const logger = jsonLogger(config.logLevel);
  logger.info('starting', { config: describeConfig(config), dataDir: appConfig.DATA_DIR, eventStore: appConfig.EVENT_STORE });
  const platform = openPlatform(appConfig);
  const consumer = new KafkaIngestConsumer(createKafka(config, logger), config, ingestionPortFor(platform.ingestion), logger);
  const health = config.healthPort > 0 ? await startHealthServer(consumer, config.healthPort, appConfig.HOST) : undefined;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    await consumer.stop();
    health?.close();
    await platform.close();
    logger.info('stopped', { stats: consumer.stats });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await consumer.start();
}

main().catch((e: unknown) => {
  process.stderr.write(`kafka-ingest: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
