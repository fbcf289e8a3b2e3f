import {
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  OnModuleDestroy,
  OnModuleInit,
  Param,
  PayloadTooLargeException,
  Post,
  Put,
  Req,
  Res,
  UnprocessableEntityException,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiBody, ApiConsumes, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ImportJobs, importsDir, JobStateError, MappingError, UploadTooLargeError, type ImportJob, type JobViewer } from '@cem/backfill';
import type { ApiKeyPrincipal, Platform } from '@cem/platform';
import { Roles } from '../auth/roles.decorator';
import { PLATFORM } from '../tokens';

/** Upload bodies are streamed to disk, never buffered: these types skip Fastify's JSON body limit. */
const UPLOAD_TYPES = ['text/csv', 'application/x-ndjson', 'application/octet-stream'];
const MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

@ApiTags('import')
@ApiSecurity('api-key')
@Controller('v1/imports')
export class ImportsController implements OnModuleInit, OnModuleDestroy {
  private readonly jobs: ImportJobs;

  constructor(
    @Inject(PLATFORM) platform: Platform,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    this.jobs = new ImportJobs({
      dir: importsDir(platform.config.DATA_DIR),
      ingestion: platform.ingestion,
      maxUploadBytes: MAX_UPLOAD_BYTES,
    });
  }

  onModuleInit() {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addContentTypeParser(UPLOAD_TYPES, async (_request: FastifyRequest, payload: unknown) => payload);
    this.jobs.resumePending();
  }

  async onModuleDestroy() {
    await this.jobs.close(); // a running job stops at a batch boundary and resumes at the next start
  }

  @Post()
  @Roles('ingest')
  @ApiOperation({
    summary: 'Create an import job from a mapping (role: ingest)',
    description: 'Body: {"mapping": {...}} (see docs/backfill.md). The mapping is checked at once; then PUT the file to uploadUrl.',
  })
  @ApiResponse({ status: 201, description: 'job created, awaiting its file' })
  @ApiResponse({ status: 422, description: 'invalid mapping: errors name each mapping path' })
  create(@Body() body: unknown, @Req() request: FastifyRequest) {
    const mapping = (body as { mapping?: unknown } | null)?.mapping;
    try {
      const job = this.jobs.create(mapping, principalOf(request).keyId);
      return { ...view(job), uploadUrl: `/v1/imports/${job.jobId}/file` };
    } catch (e) {
      if (e instanceof MappingError) {
        throw new UnprocessableEntityException({
          error: 'invalid_mapping',
          message: 'the mapping was refused; nothing was created',
          errors: e.problems.map((p) => ({ field: p.path ? `mapping.${p.path}` : 'mapping', reason: p.reason })),
        });
      }
      throw e;
    }
  }

  @Put(':jobId/file')
  @HttpCode(202)
  @Roles('ingest')
  @ApiConsumes(...UPLOAD_TYPES)
  @ApiBody({ required: true, schema: { type: 'string', format: 'binary' }, description: 'the file itself' })
  @ApiOperation({
    summary: "Upload the job's file and start it (role: ingest)",
    description:
      'The raw file as the body (text/csv, application/x-ndjson or application/octet-stream); streamed to disk, then imported in the background.',
  })
  @ApiResponse({ status: 202, description: 'queued' })
  @ApiResponse({ status: 404, description: 'no such job, or created by another key' })
  @ApiResponse({ status: 409, description: 'the job already has its file' })
  @ApiResponse({ status: 413, description: 'larger than the upload limit' })
  async upload(@Param('jobId') jobId: string, @Req() request: FastifyRequest) {
    this.find(jobId, request);
    const body = request.body as Readable | undefined;
    if (!body || typeof (body as Readable).pipe !== 'function') {
      throw new UnprocessableEntityException({
        error: 'validation_failed',
        message: `send the file as the raw body with Content-Type ${UPLOAD_TYPES.join(', ')}`,
      });
    }
    try {
      return view(await this.jobs.upload(jobId, body));
    } catch (e) {
      if (e instanceof UploadTooLargeError) throw new PayloadTooLargeException({ error: 'payload_too_large', message: e.message });
      if (e instanceof JobStateError) throw new ConflictException({ error: 'conflict', message: e.message });
      throw e;
    }
  }

  @Get(':jobId')
  @Roles('ingest', 'ops')
  @ApiOperation({ summary: 'Status of an import job: progress and counts (role: ingest, the key that created the job; or ops)' })
  @ApiResponse({
    status: 200,
    description:
      'status awaiting_upload, queued, running, completed or failed, with counts (rows read, filtered, rejected; events imported, duplicates)',
  })
  @ApiResponse({ status: 404, description: 'no such job, or created by another key' })
  status(@Param('jobId') jobId: string, @Req() request: FastifyRequest) {
    return view(this.find(jobId, request));
  }

  @Get(':jobId/rejects')
  @Roles('ingest', 'ops')
  @ApiOperation({
    summary: 'Reject report of an import job as CSV: line, event, field, reason (role: ingest, the key that created the job; or ops)',
  })
  @ApiResponse({ status: 404, description: 'no such job, created by another key, or not started yet' })
  rejects(@Param('jobId') jobId: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    this.find(jobId, request);
    const path = this.jobs.rejectsPath(jobId);
    if (!path) throw new NotFoundException({ error: 'not_found', message: 'the job has not started yet: no reject report' });
    reply.header('content-type', 'text/csv; charset=utf-8').send(createReadStream(path));
  }

  /** A job of another key answers exactly as a job that does not exist (404, not 403): its existence is not revealed. */
  private find(jobId: string, request: FastifyRequest) {
    const job = this.jobs.getFor(jobId, viewerOf(request));
    if (!job) throw new NotFoundException({ error: 'not_found', message: `no import job ${jobId}` });
    return job;
  }
}

/** Set by ApiKeyGuard before any handler runs. */
const principalOf = (request: FastifyRequest) => (request as FastifyRequest & { principal: ApiKeyPrincipal }).principal;

/** A key with the ops role sees every job; any other key only the jobs it created. */
const viewerOf = (request: FastifyRequest): JobViewer => {
  const p = principalOf(request);
  return { keyId: p.keyId, seesAll: p.roles.includes('ops') };
};

/** The job as answered: without its owner's key id. */
const view = (job: ImportJob): Omit<ImportJob, 'ownerKeyId'> => {
  const { ownerKeyId: _owner, ...rest } = job;
  return rest;
};
