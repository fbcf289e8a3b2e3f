import type { LoggerService } from '@nestjs/common';
import { join, resolve } from 'node:path';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { EventStore } from '@cem/event-store';
import { Customer360Queries } from './customer-360/customer-360.query';
import { readCheckpoints } from './projector/checkpoints';
import { PROJECTIONS, startProjector, type RunningProjector } from './projector/projector.module';
import { openSqliteReadStore, type ReadStore } from './store/read-store';

export const READ_MODELS_FILE = 'read-models.db';

export interface ReadSideOptions {
  /** the data directory: the embedded read store is `<dataDir>/read-models.db` */
  dataDir: string;
  store: EventStore;
  /**
   * `embedded` (default): this process runs the projector. `external`: another process
   * (apps/projector) does, and this one only reads; catching up is then seen through the stored
   * checkpoint.
   */
  projector?: 'embedded' | 'external';
  batchSize?: number;
  logger?: LoggerService;
  /** Prometheus registry for the projection metrics; a new one when absent */
  registry?: Registry;
  now?: () => number;
}

export interface ProjectionLag {
  /** every projection has handled the log up to here */
  checkpoint: number;
  head: number;
  /** events recorded but not yet projected */
  events: number;
  /** age of the oldest event not yet projected (0 when caught up) */
  seconds: number;
}

export interface ReadSideHealth {
  ready: boolean;
  projector: 'embedded' | 'external';
  status: string;
  lag: ProjectionLag;
}

/**
 * The read side of one deployment: the read-model store, its queries and (embedded default) the
 * projector feeding it. The api opens it next to the platform; apps/projector runs the projector
 * alone through runProjector.
 */
export interface ReadSide {
  customers: Customer360Queries;
  readStore: ReadStore;
  running?: RunningProjector;
  registry: Registry;
  /** resolves true once every projection has handled `position`; false after `timeoutMs` */
  whenCaughtUp(position: number, timeoutMs?: number): Promise<boolean>;
  lag(): Promise<ProjectionLag>;
  health(): Promise<ReadSideHealth>;
  close(): Promise<void>;
}

const PROJECTION_NAMES = () => PROJECTIONS.map((p) => new p().projectionName);

/** Opens the read side; with `projector: 'embedded'` it also starts the projector in this process. */
export async function openReadSide(options: ReadSideOptions): Promise<ReadSide> {
  const mode = options.projector ?? 'embedded';
  const file = join(resolve(options.dataDir), READ_MODELS_FILE);
  const registry = options.registry ?? new Registry();
  const now = options.now ?? Date.now;
  const names = PROJECTION_NAMES();

  // the projector writes through its own connection; queries read through another, so a batch
  // transaction in progress never holds up a lookup (WAL: readers see the last committed batch)
  const writeStore = mode === 'embedded' ? await openSqliteReadStore(file) : undefined;
  const readStore = await openSqliteReadStore(file, { migrate: mode === 'external' });

  const batchSeconds = new Histogram({
    name: 'cem_projection_batch_seconds',
    help: 'Time to project one batch (one read-store transaction)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const projected = new Gauge({ name: 'cem_projection_checkpoint', help: 'Log position every projection has handled', registers: [registry] });

  let running: RunningProjector | undefined;
  if (writeStore) {
    running = await startProjector({
      store: options.store,
      db: writeStore.db,
      batchSize: options.batchSize,
      logger: options.logger,
      onBatch: (b) => {
        batchSeconds.observe(b.durationMs / 1000);
        projected.set(b.position);
      },
    });
  }

  const checkpoint = async (): Promise<number> => {
    if (running) return running.projector.position;
    const all = await readCheckpoints(readStore.db, names);
    return Math.min(...all.values());
  };

  const lag = async (): Promise<ProjectionLag> => {
    const [cp, head] = await Promise.all([checkpoint(), options.store.headPosition()]);
    if (cp >= head) return { checkpoint: cp, head, events: 0, seconds: 0 };
    const [next] = await options.store.readAll({ after: cp, maxCount: 1 });
    const seconds = next ? Math.max(0, (now() - Date.parse(next.recordedAt)) / 1000) : 0;
    return { checkpoint: cp, head, events: head - cp, seconds };
  };

  new Gauge({
    name: 'cem_projection_lag_events',
    help: 'Events recorded in the log but not yet projected',
    registers: [registry],
    async collect() {
      this.set((await lag()).events);
    },
  });
  new Gauge({
    name: 'cem_projection_lag_seconds',
    help: 'Age of the oldest event not yet projected',
    registers: [registry],
    async collect() {
      this.set((await lag()).seconds);
    },
  });

  const whenCaughtUp = async (position: number, timeoutMs = 30_000): Promise<boolean> => {
    if (running) return running.projector.whenCaughtUp(position, timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await checkpoint()) >= position) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  return {
    customers: new Customer360Queries(readStore.db, now),
    readStore,
    running,
    registry,
    whenCaughtUp,
    lag,
    async health() {
      const l = await lag();
      const status = running ? running.projector.status : 'external';
      // ready once the projector has reached the head once: before, the views would be stale
      const ready = running ? running.projector.hasCaughtUp && status !== 'retrying' : true;
      return { ready, projector: mode, status, lag: l };
    },
    async close() {
      await running?.close();
      await writeStore?.close();
      await readStore.close();
    },
  };
}
