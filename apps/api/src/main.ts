import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig } from '@cem/config';
import { openPlatform } from '@cem/platform';
import { createApiApp } from './bootstrap';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const platform = openPlatform(config);
  const app = await createApiApp(platform);
  await app.listen({ port: config.PORT, host: config.HOST });
  // the bound port (PORT=0 picks a free one)
  const port = (app.getHttpServer().address() as AddressInfo).port;
  new Logger('api').log({ msg: 'listening', url: `http://${config.HOST}:${port}`, docs: `http://${config.HOST}:${port}/docs`, dataDir: config.DATA_DIR, eventStore: config.EVENT_STORE });
  if (!config.API_KEYS && platform.apiKeys.list().length === 0) {
    new Logger('api').warn('no API keys yet: create one with `npm run cli -- api-key create --name me --role ingest+analyst+ops`');
  }
  const stop = async () => {
    await app.close();
    await platform.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
