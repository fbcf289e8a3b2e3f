import { Inject, Module, type DynamicModule, type LoggerService, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef, NestFactory } from '@nestjs/core';
import { CqrsModule, EventBus, type IEventHandler } from '@nestjs/cqrs';
import type { Kysely } from 'kysely';
import type { EventStore } from '@cem/event-store';
import { Customer360Projection } from '../customer-360/customer-360.projection';
import type { ReadModelsDb } from '../store/read-models-db';
import { AwaitingEventPublisher } from './awaiting-event-publisher';
import type { Projection } from './projection';
import { Projector, type BatchProjected } from './projector';

/** Every projection the projector feeds, in the order their handlers run. Add new read models here. */
export const PROJECTIONS: Type<IEventHandler & Projection>[] = [Customer360Projection];

export interface ProjectorModuleOptions {
  store: EventStore;
  db: Kysely<ReadModelsDb>;
  batchSize?: number;
  logger?: LoggerService;
  onBatch?: (info: BatchProjected) => void;
}

const PROJECTOR_OPTIONS = Symbol('PROJECTOR_OPTIONS');

@Module({})
export class ProjectorModule implements OnModuleInit {
  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly eventBus: EventBus,
    @Inject(PROJECTOR_OPTIONS) private readonly options: ProjectorModuleOptions,
  ) {}

  static register(options: ProjectorModuleOptions): DynamicModule {
    return {
      module: ProjectorModule,
      imports: [CqrsModule.forRoot()],
      providers: [
        ...PROJECTIONS,
        { provide: PROJECTOR_OPTIONS, useValue: options },
        {
          provide: Projector,
          inject: [EventBus, ModuleRef],
          useFactory: (eventBus: EventBus, moduleRef: ModuleRef) =>
            new Projector({ ...options, eventBus, projections: PROJECTIONS.map((p) => moduleRef.get(p, { strict: false })) }),
        },
      ],
      exports: [Projector],
    };
  }

  /** Handlers are called by the awaiting publisher, never through the bus's fire-and-forget stream. */
  onModuleInit(): void {
    const publisher = new AwaitingEventPublisher();
    for (const type of PROJECTIONS) publisher.register(this.moduleRef.get(type, { strict: false }));
    this.eventBus.publisher = publisher;
  }
}

export interface RunningProjector {
  projector: Projector;
  /** stops the subscription and the Nest context (does not close the stores) */
  close(): Promise<void>;
}

/**
 * Starts the projector in a Nest application context of its own: in the api process for the
 * embedded default, or in apps/projector. It catches up from the stored checkpoints, then follows
 * the log live.
 */
export async function startProjector(options: ProjectorModuleOptions): Promise<RunningProjector> {
  const context = await NestFactory.createApplicationContext(ProjectorModule.register(options), { logger: options.logger ?? false, abortOnError: false });
  const projector = context.get(Projector);
  await projector.start();
  return {
    projector,
    async close() {
      await projector.stop();
      await context.close();
    },
  };
}
