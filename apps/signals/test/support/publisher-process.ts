/**
 * The customer-signals publisher as its own process, for the kill -9 test. Same wiring as
 * apps/signals/src/main.ts. Test hook: TEST_HANG_AFTER_SENT=K makes the batch whose signals bring the
 * total sent to >= K get acknowledged by the broker and then never commit its checkpoint (after
 * printing `HUNG <total>`). Prints `READY` once publishing.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { createLogger, loadConfig, loadSignalsConfig } from '@cem/config';
import { createKafka } from '@cem/kafka';
import { openPlatform } from '@cem/platform';
import { CustomerSignalPublisher, SignalStateStore } from '@cem/signals';

async function main() {
  const appConfig = loadConfig();
  const config = loadSignalsConfig();
  const platform = openPlatform(appConfig);
  const states = new SignalStateStore(config.dbFile ?? join(appConfig.DATA_DIR, 'signals.db'), appConfig.SQLITE_SYNCHRONOUS);
  const hangAt = Number(process.env.TEST_HANG_AFTER_SENT ?? 0);
  const logger = createLogger({ level: 'error', component: 'customer-signals', stream: 'stderr' });
  const publisher = new CustomerSignalPublisher(createKafka(config, logger), config, platform.store, states, logger, {
    afterSend: async (_signals, total) => {
      if (hangAt > 0 && total >= hangAt) {
        process.stdout.write(`HUNG ${total}\n`);
        await new Promise(() => undefined);
      }
    },
  });
  process.on('SIGTERM', () => {
    void (async () => {
      await publisher.stop();
      states.close();
      await platform.close();
      process.exit(0);
    })();
  });
  await publisher.start();
  process.stdout.write('READY\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
