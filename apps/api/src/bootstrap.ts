import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { churnBandThresholdsOf, churnRescoringIntervalMsOf, createLogger, segmentsIntervalMsOf, type JsonLogger } from '@cem/config';
import { LogSealer, type Platform } from '@cem/platform';
import { openReadSide, readStoreLocationOf, type ReadSide } from '@cem/read-models';
import type { TargetMetricSource } from '@cem/read-models/targets';
import { WebhooksRuntime } from '@cem/signals';
import type { ReadModelWorkersOptions } from './admin/read-model-worker';
import { AppModule } from './app.module';
import { installApiKeyCheck } from './auth/api-key.hook';
import { defaultDashboardDir, installDashboard } from './dashboard/dashboard';
import { installJsonBodyParser } from './http/json-body';
import { completeOpenApi } from './http/openapi';
import { frameworkErrors, MAX_PATH_PARAM_LENGTH } from './http/framework-errors';
import { installMethodCheck } from './http/method-check';

export interface ApiAppOptions {
  /**
   * The read side the query API reads (see openReadSide in libs/read-models). Absent: the one the
   * configuration names (PROJECTOR=embedded runs the projector in this process), closed with the app.
   */
  readSide?: ReadSide;
  /** the process's logger; default: a JSON logger at the configured LOG_LEVEL */
  logger?: JsonLogger;
  /** where targets read their metric's series; default: the experience-metrics read model of the read side */
  targetMetrics?: TargetMetricSource;
  /**
   * run the webhook dispatcher in this process; default: when this process runs the projector
   * (the embedded default), like the scheduled jobs
   */
  dispatchWebhooks?: boolean;
  /** the built dashboard page served at /app; default: dist/dashboard of the repository (`npm run build`) */
  dashboardDir?: string;
  /** for tests: hooks of the admin API's rebuild and verification worker threads (holding a job while it runs) */
  readModelWorkers?: ReadModelWorkersOptions;
}

/** Builds the HTTP app around an opened platform (used by main.ts and the e2e tests). */
export async function createApiApp(platform: Platform, options: ApiAppOptions = {}): Promise<NestFastifyApplication> {
  const logger = options.logger ?? createLogger({ level: platform.config.LOG_LEVEL, component: 'api' });
  const readSide =
    options.readSide ??
    (await openReadSide({
      dataDir: platform.config.DATA_DIR,
      readStore: readStoreLocationOf(platform.config),
      store: platform.store,
      logger,
      projector: platform.config.PROJECTOR,
      onVersionChange: platform.config.READ_MODEL_VERSION_CHANGE,
      churn: { rescoringIntervalMs: churnRescoringIntervalMsOf(platform.config), bandThresholds: churnBandThresholdsOf(platform.config) },
      segmentsIntervalMs: segmentsIntervalMsOf(platform.config),
    }));
  const webhooks = new WebhooksRuntime({
    config: platform.config,
    eventStore: platform.store,
    dispatch: options.dispatchWebhooks ?? readSide.running !== undefined,
    logger,
  });
  const adapter = new FastifyAdapter({
    bodyLimit: platform.config.INGEST_MAX_BODY_BYTES,
    logger: false,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    frameworkErrors,
  });
  // bodyParser off: Nest's own JSON and form parsers are not installed; installJsonBodyParser is the only one
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forPlatform(platform, readSide, webhooks, !options.readSide, options.targetMetrics, options.readModelWorkers),
    adapter,
    {
      logger,
      bodyParser: false,
    },
  );
  const fastify = app.getHttpAdapter().getInstance();
  // JSON only, strict UTF-8, no prototype keys: a text/plain or form-encoded body is refused with 415
  installJsonBodyParser(fastify);
  // a method the path does not serve is 405 with its exact Allow, answered before the body is read
  installMethodCheck(fastify);
  // the key and the role are checked before any body is read
  installApiKeyCheck(fastify, platform);
  // the analysts' and operators' page (static files, public; its JSON calls carry the key)
  await installDashboard(app, options.dashboardDir ?? defaultDashboardDir());
  const doc = new DocumentBuilder()
    .setTitle('CEM platform API')
    .setDescription('Ingest touch-point events, query projections, operate the platform. Every endpoint names the role it needs.')
    .setVersion('1')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key' }, 'api-key')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'API key' }, 'bearer')
    .build();
  const limits = { maxBatchEvents: platform.config.INGEST_MAX_BATCH_EVENTS, maxBodyBytes: platform.config.INGEST_MAX_BODY_BYTES };
  SwaggerModule.setup('docs', app, () => completeOpenApi(SwaggerModule.createDocument(app, doc), limits), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  // EventStoreDB: the log's hash chain is sealed on a schedule (the embedded store chains every append)
  if (platform.config.EVENT_STORE === 'esdb' && platform.config.LOG_SEAL_INTERVAL_S > 0) {
    const sealer = new LogSealer(platform.logStore, {
      intervalMs: platform.config.LOG_SEAL_INTERVAL_S * 1000,
      log: (level, message, fields) => logger[level](message, { component: 'log-sealer', ...fields }),
    });
    sealer.start();
    fastify.addHook('onClose', async () => sealer.stop());
  }
  return app;
}
