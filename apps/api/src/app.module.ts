import { DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type { Platform } from '@cem/platform';
import type { ReadSide } from '@cem/read-models';
import type { TargetMetricSource } from '@cem/read-models/targets';
import type { WebhooksRuntime } from '@cem/signals';
import { AuditController } from './audit/audit.controller';
import { ApiKeyGuard } from './auth/api-key.guard';
import { ChurnRiskController } from './churn-risk/churn-risk.controller';
import { CustomersController } from './customers/customers.controller';
import { READ_SIDE } from './customers/read-side.token';
import { HealthController } from './health/health.controller';
import { ErrorFilter } from './http/error.filter';
import { EventsController } from './ingest/events.controller';
import { ExperienceMetricsController } from './experience-metrics/experience-metrics.controller';
import { ImportsController } from './imports/imports.controller';
import { HttpMetricsInterceptor } from './metrics/http-metrics.interceptor';
import { MetricsController } from './metrics/metrics.controller';
import { MeController } from './me/me.controller';
import { MilestonesController } from './milestones/milestones.controller';
import { ErasuresController } from './admin/erasures.controller';
import { SubjectExportsController } from './admin/subject-exports.controller';
import { OpsLogController } from './admin/log.controller';
import { targetMetricSourceOf } from './targets/target-metrics.source';
import { TARGET_METRICS } from './targets/target-metrics.token';
import { SegmentsController } from './segments/segments.controller';
import { TargetsController } from './targets/targets.controller';
import { METRICS_REGISTRY } from './metrics/metrics.token';
import { PLATFORM, READ_MODEL_WORKERS } from './tokens';
import type { ReadModelWorkersOptions } from './admin/read-model-worker';
import { RebuildsController } from './admin/rebuilds.controller';
import { WebhooksController } from './webhooks/webhooks.controller';
import { UnmergeController } from './identity/unmerge.controller';
import { WEBHOOKS } from './webhooks/webhooks.token';

const controllers = [
  AuditController,
  RebuildsController,
  ChurnRiskController,
  ErasuresController,
  EventsController,
  ExperienceMetricsController,
  HealthController,
  ImportsController,
  CustomersController,
  MeController,
  MetricsController,
  MilestonesController,
  OpsLogController,
  SegmentsController,
  SubjectExportsController,
  WebhooksController,
  UnmergeController,
];

const OWNS_READ_SIDE = Symbol('OWNS_READ_SIDE');

@Module({})
export class AppModule implements OnApplicationShutdown {
  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(OWNS_READ_SIDE) private readonly ownsReadSide: boolean,
    @Inject(WEBHOOKS) private readonly webhooks: WebhooksRuntime,
  ) {}

  /** The webhooks (dispatcher, store) stop with the app; a read side the app opened itself (embedded default) too. */
  async onApplicationShutdown(): Promise<void> {
    await this.webhooks.close();
    if (this.ownsReadSide) await this.readSide.close();
  }

  /**
   * The platform and the read side are opened by the caller (main.ts or a test) so it decides data
   * dir, clock, adapters and where the projector runs.
   */
  static forPlatform(
    platform: Platform,
    readSide: ReadSide,
    webhooks: WebhooksRuntime,
    ownsReadSide = false,
    targetMetrics?: TargetMetricSource,
    readModelWorkers: ReadModelWorkersOptions = {},
  ): DynamicModule {
    const metrics = targetMetrics ?? targetMetricSourceOf(readSide);
    return {
      module: AppModule,
      // the target endpoints exist only with a metric source to validate and evaluate targets against
      controllers: metrics ? [...controllers, TargetsController] : controllers,
      providers: [
        { provide: PLATFORM, useValue: platform },
        { provide: READ_MODEL_WORKERS, useValue: readModelWorkers },
        { provide: READ_SIDE, useValue: readSide },
        { provide: OWNS_READ_SIDE, useValue: ownsReadSide },
        { provide: WEBHOOKS, useValue: webhooks },
        { provide: METRICS_REGISTRY, useValue: readSide.registry },
        { provide: TARGET_METRICS, useValue: metrics },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_INTERCEPTOR, useClass: HttpMetricsInterceptor },
      ],
      exports: [PLATFORM],
    };
  }
}
