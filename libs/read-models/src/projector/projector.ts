import type { EventBus } from '@nestjs/cqrs';
import type { Kysely } from 'kysely';
import type { EventStore } from '@cem/event-store';
import type { ReadModel } from '../kit/read-model';
import { CheckpointedSubscriber, type SubscriberStatus } from '../subscriber/checkpointed-subscriber';
import { DEFAULT_BATCHES_PER_TRANSACTION, ProjectionLane, WriteTurns, type VersionChangePolicy } from './projection-lane';
import { SharedLogPages } from './shared-log-pages';
import type { Projection } from './projection';

export const DEFAULT_BATCH_SIZE = 5_000;
export { DEFAULT_BATCHES_PER_TRANSACTION } from './projection-lane';

export type ProjectorStatus = SubscriberStatus;

export interface BatchProjected {
  readModel: string;
  /** the read model's checkpoint after the commit */
  position: number;
  events: number;
  durationMs: number;
}

export interface ProjectorOptions {
  store: EventStore;
  /** the read store's write connection (every lane writes through it) */
  db: Kysely<any>;
  eventBus: EventBus;
  /** the read models to project, each with its projection instance */
  lanes: readonly { model: ReadModel; projection: Projection }[];
  /**
   * most events handed to a projection at once (default 5,000): each customer a batch touches is
   * loaded once and written once for all its events. Live, a batch is whatever arrived since the
   * last one (a few events).
   */
  batchSize?: number;
  /** catching up, full batches per transaction (default 20): see ProjectionLane */
  batchesPerTransaction?: number;
  /** a read model whose stored copy another version projected: held (default) or rebuilt in place (see VersionChangePolicy) */
  onVersionChange?: VersionChangePolicy;
  /** while a read model is held, how often its lane looks again whether a rebuild switched (default 2 s) */
  holdRecheckMs?: number;
  logger?: { error?(message: unknown): unknown; warn?(message: unknown): unknown; log?(message: unknown): unknown };
  onBatch?: (info: BatchProjected) => void;
  /** run after a lane commits the projection of an erasure: the read store scrubs old page versions (ReadStore.afterErasure) */
  afterErasure?: () => Promise<void>;
  /** first retry delay after a failed batch; doubles up to 30 s */
  retryDelayMs?: number;
}

/**
 * The projector: one lane per read model, each a checkpointed subscription of its own with its own
 * checkpoint, so a read model being rebuilt (new, or a new version) never holds the others back,
 * and read-your-writes waits only for the read models a query reads.
 */
export class Projector {
  private readonly lanes = new Map<string, CheckpointedSubscriber>();

  constructor(private readonly options: ProjectorOptions) {
    const turns = new WriteTurns();
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    // lanes catching up read each page of the log once between them (a turn spans a transaction's batches)
    const log = new SharedLogPages(options.store, (options.batchesPerTransaction ?? DEFAULT_BATCHES_PER_TRANSACTION) + 1);
    for (const { model, projection } of options.lanes) {
      const worker = new ProjectionLane(model, projection, options.db, options.eventBus, turns, {
        batchSize,
        batchesPerTransaction: options.batchesPerTransaction,
        onVersionChange: options.onVersionChange,
        logger: options.logger,
        afterErasure: options.afterErasure,
      });
      this.lanes.set(
        model.name,
        new CheckpointedSubscriber(log, worker, {
          batchSize,
          retryDelayMs: options.retryDelayMs,
          logger: options.logger,
          holdRecheckMs: options.holdRecheckMs,
          onHeld: (held) => options.logger?.warn?.({ msg: held.message, readModel: model.name, ...held.detail }),
          onCommit: (c) => options.onBatch?.({ readModel: model.name, ...c }),
        }),
      );
    }
  }

  get readModels(): string[] {
    return [...this.lanes.keys()];
  }

  /** Position every read model has handled (the slowest lane's). */
  get position(): number {
    return Math.min(...[...this.lanes.values()].map((l) => l.position));
  }

  positionOf(readModel: string): number {
    return this.lane(readModel).position;
  }

  /** `retrying` if any lane is, else `catching-up`, `stopped`, `held` (a rebuild is needed) if any is, else `live`. */
  get status(): ProjectorStatus {
    const all = [...this.lanes.values()].map((l) => l.status);
    for (const s of ['retrying', 'catching-up', 'stopped', 'held'] as const) if (all.includes(s)) return s;
    return 'live';
  }

  /**
   * true once every lane has reached the head of the log at least once since start, a held lane
   * excepted: its old copy serves as it is until a rebuild switches (health says so)
   */
  get hasCaughtUp(): boolean {
    return [...this.lanes.values()].every((l) => l.hasCaughtUp || l.status === 'held');
  }

  get health() {
    return [...this.lanes.values()].map((l) => l.health);
  }

  start(): void {
    for (const lane of this.lanes.values()) lane.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.lanes.values()].map((l) => l.stop()));
  }

  /**
   * Resolves true once each of `readModels` (default: all) has handled `position` (e.g. the
   * position an ingest call returned), false when `timeoutMs` passes first.
   */
  async whenCaughtUp(position: number, timeoutMs = 30_000, readModels: readonly string[] = this.readModels): Promise<boolean> {
    const reached = await Promise.all(readModels.map((name) => this.lane(name).whenCaughtUp(position, timeoutMs)));
    return reached.every(Boolean);
  }

  /** Resolves once every read model has reached the head of the log as it is now. */
  async whenCaughtUpToHead(timeoutMs = 30_000): Promise<boolean> {
    return this.whenCaughtUp(await this.options.store.headPosition(), timeoutMs);
  }

  private lane(name: string): CheckpointedSubscriber {
    const lane = this.lanes.get(name);
    if (!lane) throw new Error(`no read model named ${name} (known: ${this.readModels.join(', ')})`);
    return lane;
  }
}
