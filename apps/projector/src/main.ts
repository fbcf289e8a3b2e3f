import 'reflect-metadata';
import { churnBandThresholdsOf, churnRescoringIntervalMsOf, createLogger, loadConfig, loadOrExit, segmentsIntervalMsOf } from '@cem/config';
import { openPlatform } from '@cem/platform';
import { DEFAULT_BATCH_SIZE, isBootError, readStoreLocationOf, runProjector } from '@cem/read-models';
import { loadMilestoneDefinitions } from '@cem/read-models/milestones';
import { WebhooksRuntime } from '@cem/signals';

/**
 * The projector as its own process, for deployments that run the api with an external projector:
 * projects the event log into the read store (DATA_DIR/read-models.db, or PostgreSQL with
 * READ_STORE=postgres) and follows it until SIGTERM/SIGINT.
 * PROJECTOR_BATCH_SIZE (most events per read-store transaction) is validated with the rest of the
 * configuration; unset, the projector's own default applies.
 */
async function main(): Promise<void> {
  const config = loadOrExit('projector', () => {
    const loaded = loadConfig();
    // DATA_DIR/milestones.json is configuration too: a broken one stops the process at boot, naming each JSON path
    loadMilestoneDefinitions(loaded.DATA_DIR);
    return loaded;
  });
  const size = config.PROJECTOR_BATCH_SIZE;
  const logger = createLogger({ level: config.LOG_LEVEL, component: 'projector' });
  const platform = openPlatform(config);
  await platform.checkStore();
  const running = await runProjector({
    dataDir: config.DATA_DIR,
    readStore: readStoreLocationOf(config),
    store: platform.store,
    batchSize: size,
    onVersionChange: config.READ_MODEL_VERSION_CHANGE,
    logger,
    churn: { rescoringIntervalMs: churnRescoringIntervalMsOf(config), bandThresholds: churnBandThresholdsOf(config) },
    segmentsIntervalMs: segmentsIntervalMsOf(config),
  });
  // the webhook dispatcher runs where the projector runs (docs/webhooks.md); the api only configures webhooks
  const webhooks = new WebhooksRuntime({ config, eventStore: platform.store, dispatch: true, logger });
  logger.info('projector started', {
    checkpoint: running.projector.position,
    batchSize: size ?? DEFAULT_BATCH_SIZE,
    readStore: config.READ_STORE,
  });
  void running.projector
    .whenCaughtUpToHead(24 * 3600_000)
    .then((ok) => ok && logger.info('caught up', { position: running.projector.position }));
  const stop = async () => {
    await webhooks.close();
    await running.close();
    await platform.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  // a read store that cannot open is an operator's problem: its message says what to do, no stack
  if (isBootError(e)) {
    process.stderr.write(`projector: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`projector: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
