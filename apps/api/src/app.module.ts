import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { Platform } from '@cem/platform';
import { ApiKeyGuard } from './auth/api-key.guard';
import { HealthController } from './health/health.controller';
import { ErrorFilter } from './http/error.filter';
import { EventsController } from './ingest/events.controller';
import { ImportsController } from './imports/imports.controller';
import { PLATFORM } from './tokens';

const controllers = [EventsController, HealthController, ImportsController];

@Module({})
export class AppModule {
  /** The platform is opened by the caller (main.ts or a test) so it decides data dir, clock and adapters. */
  static forPlatform(platform: Platform): DynamicModule {
    return {
      module: AppModule,
      controllers,
      providers: [
        { provide: PLATFORM, useValue: platform },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
      exports: [PLATFORM],
    };
  }
}
