/**
 * A kafka-ingest consumer as its own process, for the kill -9 test. Same wiring as main.ts (real
 * platform in DATA_DIR, config from KAFKA_* variables). Test hook: TEST_HANG_AFTER_APPENDED=K makes
 * the append that brings the total to >= K complete durably and then never return (so the chunk is
 * stored but its offset not committed), after printing `HUNG <total>`.
 * Prints `READY` once consuming; on SIGTERM stops cleanly and prints `STATS <json>`.
 */
import 'reflect-metadata';
import { createLogger, kafkaIngestConfig, loadConfig } from '@cem/config';
import { createKafka } from '@cem/kafka';
import { openPlatform } from '@cem/platform';
import { ingestionPortFor } from '../../src/ingestion.adapter';
import { KafkaIngestConsumer } from '../../src/kafka-ingest.consumer';

async function main() {
  const app = loadConfig();
  const config = kafkaIngestConfig(app);
  const platform = openPlatform(app);
  const logger = createLogger({ level: 'error', component: 'kafka-ingest', stream: 'stderr' });
  const port = ingestionPortFor(platform.ingestion);
  const hangAt = Number(process.env.TEST_HANG_AFTER_APPENDED ?? 0);
  let total = 0;
  const consumer = new KafkaIngestConsumer(
    createKafka(config, logger),
    config,
    {
      ...port,
      append: async (commands) => {
        await port.append(commands);
        total += commands.length;
        if (hangAt > 0 && total >= hangAt) {
          process.stdout.write(`HUNG ${total}\n`);
          await new Promise(() => undefined);
        }
      },
    },
    logger,
  );
  process.on('SIGTERM', () => {
    void (async () => {
      await consumer.stop();
      await platform.close();
      process.stdout.write(`STATS ${JSON.stringify(consumer.stats)}\n`);
      process.exit(0);
    })();
  });
  await consumer.start();
  process.stdout.write('READY\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
