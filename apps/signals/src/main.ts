import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { createLogger, describeKafkaConfig, loadConfig, loadOrExit, signalsConfig } from '@cem/config';
import { createKafka } from '@cem/kafka';
import { openPlatform } from '@cem/platform';
import { CustomerSignalPublisher, SignalStateStore } from '@cem/signals';

/**
 * customer-signals publisher: derives customer-level signals from the event log and publishes them
 * to KAFKA_SIGNALS_TOPIC (docs/customer-signals.md). Configuration: the platform's variables
 * (DATA_DIR, EVENT_STORE, ...), the KAFKA_* connection variables and the signals' own (the one
 * schema of @cem/config), all validated before anything connects. `npm run signals`.
 */
async function main(): Promise<void> {
  const { app: appConfig, config } = loadOrExit('customer-signals', () => {
    const app = loadConfig();
    return { app, config: signalsConfig(app) };
  });

  const logger = createLogger({ level: appConfig.LOG_LEVEL, component: 'customer-signals', stream: 'stderr' });
  const dbFile = config.dbFile ?? join(resolve(appConfig.DATA_DIR), 'signals.db');
  logger.info('starting', {
    config: { ...describeKafkaConfig(config), topic: config.topic, batchSize: config.batchSize },
    dbFile,
    eventStore: appConfig.EVENT_STORE,
  });
  const platform = openPlatform(appConfig);
  const states = new SignalStateStore(dbFile, appConfig.SQLITE_SYNCHRONOUS);
  const publisher = new CustomerSignalPublisher(createKafka(config, logger), config, platform.store, states, logger);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    await publisher.stop();
    states.close();
    await platform.close();
    logger.info('stopped', { stats: publisher.stats });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await publisher.start();
  const lagTimer = setInterval(() => {
    void platform.store
      .headPosition()
      .then((head) => logger.info('progress', { ...publisher.stats, head, lag: Math.max(0, head - publisher.stats.position) }));
  }, 30_000);
  lagTimer.unref();
}

main().catch((e: unknown) => {
  process.stderr.write(`customer-signals: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
