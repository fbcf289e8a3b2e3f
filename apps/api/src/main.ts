import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { createLogger, loadConfig, loadOrExit } from '@cem/config';
import { openPlatform } from '@cem/platform';
import { loadMilestoneDefinitions } from '@cem/read-models/milestones';
import { isBootError } from '@cem/read-models';
import { createApiApp } from './bootstrap';

async function main(): Promise<void> {
  const config = loadOrExit('api', () => {
    const loaded = loadConfig();
    // DATA_DIR/milestones.json is configuration too: a broken one stops the process at boot, naming each JSON path
    loadMilestoneDefinitions(loaded.DATA_DIR);
    return loaded;
  });
  const logger = createLogger({ level: config.LOG_LEVEL, component: 'api' });
  const platform = openPlatform(config);
  await platform.checkStore();
  await platform.readyToIngest();
  const app = await createApiApp(platform, { logger });
  await app.listen({ port: config.PORT, host: config.HOST });
  // the bound port (PORT=0 picks a free one)
  const port = (app.getHttpServer().address() as AddressInfo).port;
  logger.info('listening', {
    url: `http://${config.HOST}:${port}`,
    docs: `http://${config.HOST}:${port}/docs`,
    dataDir: config.DATA_DIR,
    eventStore: config.EVENT_STORE,
    readStore: config.READ_STORE,
  });
  if (!config.API_KEYS && platform.apiKeys.list().length === 0) {
    logger.warn('no API keys yet: create one with `npm run cli -- api-key create --name me --role ingest+analyst+ops`');
  }
  const stop = async () => {
    await app.close();
    await platform.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  // a read store that cannot open is an operator's problem: its message says what to do, no stack
  if (isBootError(e)) {
    process.stderr.write(`api: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`api: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
