import { Module, type DynamicModule, type LoggerService } from '@nestjs/common';
import { ModuleRef, NestFactory } from '@nestjs/core';
import { CqrsModule, EventBus } from '@nestjs/cqrs';
import type { Kysely } from 'kysely';
import type { EventStore } from '@cem/event-store';
import type { ReadModel } from '../kit/read-model';
import { READ_MODELS } from '../read-models';
import type { ReadStore } from '../store/read-store';
import { AwaitingEventPublisher } from './awaiting-event-publisher';
import { ProjectedEvent } from './projected-event';
import { identifierIndexOfStore, PROJECTION_CONTEXT, storedValuesOfStore, type Projection, type ProjectionContext } from './projection';
import type { VersionChangePolicy } from './projection-lane';
import { Projector, type BatchProjected } from './projector';
import { customerHistoryOf } from '../audit/customer-log';

export interface ProjectorModuleOptions {
  store: EventStore;
  /** the data directory (configuration files of projections, see ProjectionContext) */
  dataDir?: string;
  /** the read store's write connection */
  db: Kysely<any>;
  /** the store `db` belongs to: its writer lock is taken before the lanes start (absent: no lock) */
  readStore?: ReadStore;
  /** the read models to project (default: READ_MODELS) */
  readModels?: readonly ReadModel[];
  batchSize?: number;
  batchesPerTransaction?: number;
  logger?: LoggerService;
  onBatch?: (info: BatchProjected) => void;
  retryDelayMs?: number;
  /** a read model whose stored copy another version projected: `hold` (default) or `rebuild-in-place` */
  onVersionChange?: VersionChangePolicy;
  holdRecheckMs?: number;
}

/**
 * The projector's Nest module: each read model's projection is a provider (so it may inject what
 * it needs), and the EventBus publishes through the AwaitingEventPublisher, which awaits them.
 */
@Module({})
export class ProjectorModule {
  static register(options: ProjectorModuleOptions): DynamicModule {
    const models = options.readModels ?? READ_MODELS;
    return {
      module: ProjectorModule,
      imports: [CqrsModule.forRoot()],
      providers: [
        {
          provide: PROJECTION_CONTEXT,
          useValue: {
            dataDir: options.dataDir,
            history: customerHistoryOf(options.store),
            identifierIndex: identifierIndexOfStore(options.store),
            storedValues: storedValuesOfStore(options.store),
          } satisfies ProjectionContext,
        },
        ...models.map((m) => m.projection),
        {
          provide: Projector,
          inject: [EventBus, ModuleRef],
          useFactory: (eventBus: EventBus, moduleRef: ModuleRef) => {
            // handlers are called by the awaiting publisher, never through the bus's fire-and-forget stream
            const publisher = new AwaitingEventPublisher();
            const lanes = models.map((model) => ({ model, projection: moduleRef.get(model.projection, { strict: false }) }));
            for (const { projection } of lanes) publisher.register(ProjectedEvent, projection);
            eventBus.publisher = publisher;
            return new Projector({ ...options, eventBus, lanes, afterErasure: options.readStore?.afterErasure });
          },
        },
      ],
      exports: [Projector],
    };
  }
}

export interface RunningProjector {
  projector: Projector;
  /** stops the lanes and the Nest context (does not close the stores) */
  close(): Promise<void>;
}

/**
 * Starts the projector in a Nest application context of its own: in the api process for the
 * embedded default, or in apps/projector. Each lane catches up from its stored checkpoint, then
 * follows the log live.
 */
export async function startProjector(options: ProjectorModuleOptions): Promise<RunningProjector> {
  // one projector writes a store at a time: a second one started by mistake waits here, saying so
  const lock = await options.readStore?.lockWriter((message) => options.logger?.warn?.({ msg: message }));
  const context = await NestFactory.createApplicationContext(ProjectorModule.register(options), {
    logger: options.logger ?? false,
    abortOnError: false,
  });
  const projector = context.get(Projector);
  projector.start();
  return {
    projector,
    async close() {
      await projector.stop();
      await context.close();
      await lock?.release();
    },
  };
}

/**
 * The version each read model's lane of this code checkpoints with (the model's, or its projection's
 * when that depends on configuration, e.g. the milestone definitions of `dataDir`): what a process
 * that does not project (the api with PROJECTOR=external) compares the stored checkpoints with.
 */
export async function codeVersionsOf(options: { store: EventStore; db: Kysely<any>; dataDir?: string; readModels?: readonly ReadModel[] }) {
  const models = options.readModels ?? READ_MODELS;
  const context = await NestFactory.createApplicationContext(ProjectorModule.register({ ...options, readModels: models }), {
    logger: false,
    abortOnError: false,
  });
  try {
    return new Map(
      models.map((m) => {
        const projection = context.get<Projection>(m.projection as never, { strict: false });
        return [m.name, projection.configuredVersion ?? m.version] as const;
      }),
    );
  } finally {
    await context.close();
  }
}
