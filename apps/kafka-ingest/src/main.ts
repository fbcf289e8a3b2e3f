import 'reflect-metadata';
import { createLogger, describeKafkaConfig, kafkaIngestConfig, loadConfig, loadOrExit } from '@cem/config';
import { createKafka } from '@cem/kafka';
import { openPlatform } from '@cem/platform';
import { startHealthServer } from './health.server';
import { ingestionPortFor } from './ingestion.adapter';
import { KafkaIngestConsumer } from './kafka-ingest.consumer';

/**
 * kafka-ingest: consumes the touch-point topic into the configured event store through the shared
 * ingestion service. Configuration: the platform's one schema (@cem/config; DATA_DIR, EVENT_STORE,
 * KAFKA_*, ...), all validated before anything connects.
 */
async function main(): Promise<void> {
  const { app, config } = loadOrExit('kafka-ingest', () => {
    const app = loadConfig();
    return { app, config: kafkaIngestConfig(app) };
  });

  const logger = createLogger({ level: app.LOG_LEVEL, component: 'kafka-ingest', stream: 'stderr' });
  logger.info('starting', { config: describeKafkaConfig(config), dataDir: app.DATA_DIR, eventStore: app.EVENT_STORE });
  const platform = openPlatform(app);
  await platform.checkStore();
  await platform.readyToIngest();
  const consumer = new KafkaIngestConsumer(createKafka(config, logger), config, ingestionPortFor(platform.ingestion), logger);
  const health = config.healthPort > 0 ? await startHealthServer(consumer, config.healthPort, app.HOST) : undefined;

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
  process.stderr.write(`kafka-ingest: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
