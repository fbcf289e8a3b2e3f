import 'reflect-metadata';
import { ConfigError, createLogger, loadConfig } from '@cem/config';
import { openPlatform } from '@cem/platform';
import { DEFAULT_BATCH_SIZE, runProjector } from '@cem/read-models';

/** Most events per read-store transaction: PROJECTOR_BATCH_SIZE, 1..50,000 (default 20,000, see Projector). */
function batchSize(): number | undefined {
  const raw = process.env.PROJECTOR_BATCH_SIZE;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 50_000) throw new ConfigError(['PROJECTOR_BATCH_SIZE: must be an integer from 1 to 50000']);
  return n;
}

/**
 * The projector as its own process, for deployments that run the api with an external projector:
 * projects the event log into DATA_DIR/read-models.db and follows it until SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  let config;
  let size;
  try {
    config = loadConfig();
    size = batchSize();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config.LOG_LEVEL);
  const platform = openPlatform(config);
  const running = await runProjector({ dataDir: config.DATA_DIR, store: platform.store, batchSize: size, logger });
  logger.log({ msg: 'projector started', checkpoint: running.projector.position, batchSize: size ?? DEFAULT_BATCH_SIZE, dataDir: config.DATA_DIR }, 'projector');
  void running.projector.whenCaughtUpToHead(24 * 3600_000).then((ok) => ok && logger.log({ msg: 'caught up', position: running.projector.position }, 'projector'));
  const stop = async () => {
    await running.close();
    await platform.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
