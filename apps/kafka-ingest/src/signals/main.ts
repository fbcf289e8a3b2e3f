import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { openPlatform } from '@cem/platform';
import { loadConfigsOrExit } from '../load-configs';
import { createKafka } from '../kafka-client';
import { jsonLogger } from '../logger';
import { CustomerSignalPublisher, SignalStateStore } from '@cem/signals';
import { loadSignalsConfig } from './signals.config';

/**
 * customer-signals publisher: derives customer-level signals from the event log and publishes them
 * to KAFKA_SIGNALS_TOPIC (docs/customer-signals.md). Configuration: the platform's variables
 * (DATA_DIR, EVENT_STORE, ...), the KAFKA_* connection variables of kafka-ingest and those of
 * ./signals.config.ts, all validated before anything connects.
 */
async function main(): Promise<void> {
  const { appConfig, config } = loadConfigsOrExit('customer-signals', () => loadSignalsConfig());

  const logger = jsonLogger(config.logLevel, 'customer-signals');
  const dbFile = config.dbFile ?? join(resolve(appConfig.DATA_DIR), 'signals.db');
  logger.info('starting', { config: { ...config, ssl: Boolean(config.ssl), sasl: config.sasl ? { mechanism: config.sasl.mechanism, username: config.sasl.username, password: '***' } : undefined }, dbFile, eventStore: appConfig.EVENT_STORE });
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
    void platform.store.headPosition().then((head) => logger.info('progress', { ...publisher.stats, head, lag: Math.max(0, head - publisher.stats.position) }));
  }, 30_000);
  lagTimer.unref();
}

main().catch((e: unknown) => {
  process.stderr.write(`customer-signals: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
