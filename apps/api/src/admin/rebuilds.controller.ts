import {
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  NotFoundException,
  OnModuleDestroy,
  Param,
  Post,
  Query,
  Req,
  UsePipes,
  Logger,
} from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { apiKeyActor, finishRebuildAction, type Platform } from '@cem/platform';
import { listRebuilds, readRebuild, RebuildError, type ReadSide, type RebuildRecord } from '@cem/read-models';
import type { AuthenticatedRequest } from '../auth/authorize';
import { Roles } from '../auth/roles.decorator';
import { READ_SIDE } from '../customers/read-side.token';
import { bodyValidation } from '../http/body-validation';
import { queryValidation } from '../http/query-answers';
import { PLATFORM, READ_MODEL_WORKERS } from '../tokens';
import type { ReadModelWorkersOptions } from './read-model-worker';
import {
  JOB_COOLDOWN_S,
  JobCoolingDownError,
  modelsNamed,
  ReadModelVerificationRunningError,
  ReadModelVerifications,
  RebuildJobs,
} from './read-model-jobs';
import {
  ReadModelVerificationJobDto,
  REBUILD_ID_PATTERN,
  REBUILDS_DEFAULT,
  RebuildDto,
  RebuildListDto,
  RebuildListQueryDto,
  RebuildStepBodyDto,
  StartReadModelVerificationDto,
  StartRebuildDto,
} from './rebuilds.dto';

const ERROR = { $ref: '#/components/schemas/ErrorBody' };
const startBody = bodyValidation('invalid body; nothing was started', '{"readModels": ["all"]} for every read model');
const verifyBody = bodyValidation('invalid body; nothing was started', '{} for every read model');
const stepBody = bodyValidation('invalid body; nothing was changed', '{}');

const tooSoon = (e: JobCoolingDownError) =>
  new HttpException({ error: 'too_many_requests', message: e.message }, HttpStatus.TOO_MANY_REQUESTS);
const TOO_SOON = {
  status: 429,
  schema: ERROR,
  description: `a job of this kind started from the admin API ended less than ${JOB_COOLDOWN_S} s ago (each costs a full rebuild of its read models): try again later; nothing was started`,
};

/** A refused rebuild command as its HTTP answer: nothing was started, switched or dropped. */
function refusal(e: RebuildError): HttpException {
  if (e.code === 'no-such-rebuild') return new NotFoundException({ error: 'not_found', message: e.message });
  return new ConflictException({ error: 'conflict', message: e.message });
}

const rebuildId = (id: string) => {
  if (!REBUILD_ID_PATTERN.test(id)) throw new NotFoundException({ error: 'not_found', message: `no rebuild ${id.slice(0, 40)}` });
  return id;
};

/**
 * The blue/green rebuilds (`cem rebuild`) and `cem verify` as admin endpoints (role ops): list and
 * follow rebuilds (the registry the process running one saves every 2 s), start one in a worker thread
 * of this process, switch or drop; verify the read models as a job. Each action is recorded as an
 * `ops.action-performed` event naming the API key (the same functions as the CLI's, libs/platform);
 * status reads are not, like `cem rebuild status` (progress only: no log content, no personal data).
 */
@ApiTags('admin')
@ApiSecurity('api-key')
@Controller('v1/admin')
export class RebuildsController implements OnModuleDestroy {
  private readonly rebuilds: RebuildJobs;
  private readonly verifications: ReadModelVerifications;

  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(PLATFORM) private readonly platform: Platform,
    @Inject(READ_MODEL_WORKERS) workers: ReadModelWorkersOptions,
  ) {
    this.rebuilds = new RebuildJobs(platform, new Logger('rebuilds'), Date.now, workers.rebuild);
    this.verifications = new ReadModelVerifications(platform, Date.now, workers.verify);
  }

  async onModuleDestroy() {
    // a running rebuild or verification stops at its next batch (a rebuild stays resumable)
    await Promise.all([this.rebuilds.close(), this.verifications.close()]);
  }

  @Get('rebuilds')
  @Roles('ops')
  @UsePipes(queryValidation)
  @ApiOperation({ summary: 'Blue/green rebuilds of read models, newest first, with their progress (role: ops)' })
  @ApiOkResponse({ type: RebuildListDto })
  @ApiResponse({ status: 422, description: 'limit is invalid' })
  async list(@Query() q: RebuildListQueryDto): Promise<RebuildListDto> {
    return { rebuilds: await listRebuilds(this.readSide.readStore.db, q.limit ?? REBUILDS_DEFAULT) };
  }

  @Post('rebuilds')
  @HttpCode(202)
  @Roles('ops')
  @UsePipes(startBody)
  @ApiOperation({
    summary: 'Start a blue/green rebuild of read models, in a worker thread of this process (role: ops)',
    description:
      'The same rebuild as `cem rebuild`: a shadow copy projected from position 0 while the live copy serves, caught up, verified against a ' +
      'fresh rebuild and (unless switch is false) switched; the old copy is kept until dropped. Answers at once with the rebuild (a new one, ' +
      'or an interrupted one of the same read models resumed); follow it with GET /v1/admin/rebuilds/{id}. Recorded as an ops event.',
  })
  @ApiBody({ type: StartRebuildDto, required: true })
  @ApiResponse({ status: 202, type: RebuildDto, description: 'started (or resumed)' })
  @ApiResponse(TOO_SOON)
  @ApiResponse({
    status: 400,
    schema: ERROR,
    description:
      'the body is not a JSON object, has an unknown field, readModels is missing, empty or names an unknown read model, or batchSize is out of range',
  })
  @ApiResponse({
    status: 409,
    schema: ERROR,
    description:
      'another rebuild is running, or is not finished with (verified but not switched, failed, or switched with its old copy kept): the message says which and what to do',
  })
  async start(@Body() body: StartRebuildDto, @Req() request: AuthenticatedRequest): Promise<RebuildRecord> {
    try {
      return await this.rebuilds.start(apiKeyActor(request.principal!), modelsNamed(body.readModels), body.switch ?? true, body.batchSize);
    } catch (e) {
      if (e instanceof RebuildError) throw refusal(e);
      if (e instanceof JobCoolingDownError) throw tooSoon(e);
      throw e;
    }
  }

  @Get('rebuilds/:id')
  @Roles('ops')
  @ApiOperation({ summary: 'One blue/green rebuild and its progress (role: ops)' })
  @ApiParam({ name: 'id', example: 'rb_7d9f6467ce' })
  @ApiOkResponse({ type: RebuildDto })
  @ApiResponse({ status: 404, schema: ERROR, description: 'no such rebuild' })
  async get(@Param('id') id: string): Promise<RebuildRecord> {
    const found = await readRebuild(this.readSide.readStore.db, rebuildId(id));
    if (!found) throw new NotFoundException({ error: 'not_found', message: `no rebuild ${id}` });
    return found;
  }

  @Post('rebuilds/:id/switch')
  @HttpCode(200)
  @Roles('ops')
  @ApiOperation({
    summary: 'Switch a verified rebuild: its shadow becomes the live copy, the old copy is kept (role: ops)',
    description:
      '`cem rebuild switch <id>`, for a rebuild started with switch false. One transaction of the live read store. Recorded as an ops event.',
  })
  @UsePipes(stepBody)
  @ApiParam({ name: 'id', example: 'rb_7d9f6467ce' })
  @ApiBody({ type: RebuildStepBodyDto, required: true, description: '{}' })
  @ApiResponse({ status: 400, schema: ERROR, description: 'the body is not a JSON object, or has a field (send {})' })
  @ApiOkResponse({ type: RebuildDto, description: 'switched' })
  @ApiResponse({ status: 404, schema: ERROR, description: 'no such rebuild' })
  @ApiResponse({
    status: 409,
    schema: ERROR,
    description: 'the rebuild is not verified (building, failed, switched or dropped): nothing switched',
  })
  async switch(@Param('id') id: string, @Body() _body: RebuildStepBodyDto, @Req() request: AuthenticatedRequest): Promise<RebuildRecord> {
    return this.finish('switch', id, request);
  }

  @Post('rebuilds/:id/drop')
  @HttpCode(200)
  @Roles('ops')
  @ApiOperation({
    summary: 'Drop the copy a rebuild left: the old copy of a switched one, or the shadow of one not switched (role: ops)',
    description: '`cem rebuild drop <id>`. Recorded as an ops event.',
  })
  @UsePipes(stepBody)
  @ApiParam({ name: 'id', example: 'rb_7d9f6467ce' })
  @ApiBody({ type: RebuildStepBodyDto, required: true, description: '{}' })
  @ApiResponse({ status: 400, schema: ERROR, description: 'the body is not a JSON object, or has a field (send {})' })
  @ApiOkResponse({ type: RebuildDto, description: 'dropped' })
  @ApiResponse({ status: 404, schema: ERROR, description: 'no such rebuild' })
  @ApiResponse({ status: 409, schema: ERROR, description: 'the rebuild is running, or was dropped already: nothing dropped' })
  async drop(@Param('id') id: string, @Body() _body: RebuildStepBodyDto, @Req() request: AuthenticatedRequest): Promise<RebuildRecord> {
    return this.finish('drop', id, request);
  }

  private async finish(what: 'switch' | 'drop', id: string, request: AuthenticatedRequest): Promise<RebuildRecord> {
    rebuildId(id);
    // an unknown id is a 404 before anything is recorded (the fuzzer's guesses leave no ops events)
    if (!(await readRebuild(this.readSide.readStore.db, id)))
      throw new NotFoundException({ error: 'not_found', message: `no rebuild ${id}` });
    try {
      return await finishRebuildAction(this.platform, apiKeyActor(request.principal!), what, id);
    } catch (e) {
      if (e instanceof RebuildError) throw refusal(e);
      throw e;
    }
  }

  @Post('read-models/verifications')
  @HttpCode(202)
  @Roles('ops')
  @UsePipes(verifyBody)
  @ApiOperation({
    summary:
      'Start cem verify: each read model rebuilt into a scratch copy and compared with the live copy by checksum, in a worker thread (role: ops)',
    description:
      'Answers at once with the job; poll GET /v1/admin/read-models/verifications/{jobId} for progress and the verdicts. One runs at a time ' +
      '(409 names the running one). Costs a rebuild of the read models named. The result is also recorded as an ops event.',
  })
  @ApiBody({ type: StartReadModelVerificationDto, required: true })
  @ApiResponse({ status: 202, type: ReadModelVerificationJobDto, description: 'started' })
  @ApiResponse(TOO_SOON)
  @ApiResponse({
    status: 400,
    schema: ERROR,
    description: 'the body is not a JSON object, has an unknown field, or names an unknown read model',
  })
  @ApiResponse({ status: 409, schema: ERROR, description: 'a verification is already running: the message names its job' })
  startVerification(@Body() body: StartReadModelVerificationDto, @Req() request: AuthenticatedRequest): ReadModelVerificationJobDto {
    try {
      return this.verifications.start(apiKeyActor(request.principal!), modelsNamed(body.readModels));
    } catch (e) {
      if (e instanceof ReadModelVerificationRunningError) throw new ConflictException({ error: 'conflict', message: e.message });
      if (e instanceof JobCoolingDownError) throw tooSoon(e);
      throw e;
    }
  }

  @Get('read-models/verifications/:jobId')
  @Roles('ops')
  @ApiOperation({ summary: 'Progress and verdicts of a read-model verification (role: ops)' })
  @ApiParam({ name: 'jobId', format: 'uuid' })
  @ApiOkResponse({ type: ReadModelVerificationJobDto })
  @ApiResponse({
    status: 404,
    schema: ERROR,
    description: 'no such verification in this API process (jobs are kept in memory, the last 50 finished)',
  })
  verification(@Param('jobId') jobId: string): ReadModelVerificationJobDto {
    const job = this.verifications.get(jobId);
    if (!job) throw new NotFoundException({ error: 'not_found', message: `no read-model verification ${jobId.slice(0, 40)}` });
    return job;
  }
}
