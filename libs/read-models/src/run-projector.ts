import type { LoggerService } from '@nestjs/common';
import { join, resolve } from 'node:path';
import type { EventStore } from '@cem/event-store';
import { startProjector, type RunningProjector } from './projector/projector.module';
import { READ_MODELS_FILE } from './read-side';
import { openSqliteReadStore } from './store/read-store';

/**
 * The projector as a process of its own (apps/projector): projects the log into
 * `<dataDir>/read-models.db` from each read model's stored checkpoint and follows it live until closed.
 */
export async function runProjector(options: {
  dataDir: string;
  store: EventStore;
  batchSize?: number;
  logger?: LoggerService;
}): Promise<RunningProjector> {
  const readStore = await openSqliteReadStore(join(resolve(options.dataDir), READ_MODELS_FILE));
  const running = await startProjector({
    store: options.store,
    dataDir: options.dataDir,
    db: readStore.db,
    batchSize: options.batchSize,
    logger: options.logger,
  });
  return {
    projector: running.projector,
    async close() {
      await running.close();
      await readStore.close();
    },
  };
}
