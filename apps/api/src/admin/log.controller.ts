import {
  BadRequestException,
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
  Res,
  UsePipes,
} from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PassThrough } from 'node:stream';
import { checkReplayRange, ReplayRangeError, type ReplayRange } from '@cem/event-store';
import { apiKeyActor, exportLogAction, logHeadAction, replayAction, type ApiKeyPrincipal, type Platform } from '@cem/platform';
import { Roles } from '../auth/roles.decorator';
import { bodyValidation } from '../http/body-validation';
import { invalidParameter, queryValidation } from '../http/query-answers';
import { PLATFORM } from '../tokens';
import { LogVerifications, VerificationRunningError } from './log-verifications';
import {
  ANCHOR_PATTERN,
  EXPORT_EXAMPLE,
  LogHeadDto,
  LogReplayQueryDto,
  LogVerificationJobDto,
  REPLAY_LINE_EXAMPLE,
  StartLogVerificationDto,
} from './log.dto';

/** Exports and replays streaming at once: each holds a read of the log open for as long as its client reads. */
export const MAX_LOG_STREAMS = 2;

const NDJSON = 'application/x-ndjson';

const startBody = bodyValidation('invalid body; nothing was started', '{} for no anchor');

class LogStreamsBusyDto {
  @ApiProperty({ example: 429 }) statusCode!: number;
  @ApiProperty({ example: 'too_many_requests' }) error!: string;
  @ApiProperty() message!: string;
}

const principalOf = (request: FastifyRequest) => (request as FastifyRequest & { principal: ApiKeyPrincipal }).principal;

/**
 * The log commands of the CLI as admin endpoints (role ops): head, verify-log (a background job),
 * export-log and replay (streamed NDJSON). Each call is recorded as an `ops.action-performed` event
 * naming the API key by its name (see docs/operations.md).
 */
@ApiTags('admin')
@ApiSecurity('api-key')
@Controller('v1/admin/log')
export class OpsLogController implements OnModuleDestroy {
  private readonly verifications: LogVerifications;
  private streams = 0;

  constructor(@Inject(PLATFORM) private readonly platform: Platform) {
    this.verifications = new LogVerifications(platform);
  }

  async onModuleDestroy() {
    await this.verifications.close(); // a running verification stops at its next page, recorded as failed
  }

  @Get('head')
  @Roles('ops')
  @ApiOperation({
    summary: 'The head of the hash chain, to keep outside the platform (role: ops)',
    description:
      'On EventStoreDB the last sealed link. The call is recorded as an ops event, which moves the head by one: the anchor stays valid ' +
      '(verify-log checks that link, whatever was appended after it).',
  })
  @ApiOkResponse({ type: LogHeadDto })
  async head(@Req() request: FastifyRequest): Promise<LogHeadDto> {
    const h = await logHeadAction(this.platform, apiKeyActor(principalOf(request)));
    return { seq: h.seq, position: h.position, hash: h.hash, anchor: `${h.seq}:${h.hash}`, sealed: h.sealed };
  }

  @Post('verifications')
  @HttpCode(202)
  @Roles('ops')
  @UsePipes(startBody)
  @ApiOperation({
    summary: 'Start verify-log: recompute the hash chain over the whole log, in the background (role: ops)',
    description:
      'Answers at once with the job; poll GET /v1/admin/log/verifications/{jobId} for progress and the result. One verification runs at a time ' +
      '(409 names the running one). The result is also recorded as an ops event.',
  })
  @ApiBody({ type: StartLogVerificationDto, required: true })
  @ApiResponse({ status: 202, type: LogVerificationJobDto, description: 'started' })
  @ApiResponse({ status: 409, description: 'a verification is already running: the message names its job' })
  @ApiResponse({
    status: 400,
    description: 'the body is not a JSON object (send {} for no anchor), has an unknown field, or expectHead is not <seq>:<64 hex digits>',
  })
  startVerification(@Body() body: StartLogVerificationDto, @Req() request: FastifyRequest): LogVerificationJobDto {
    const m = body.expectHead !== undefined ? ANCHOR_PATTERN.exec(body.expectHead) : null;
    if (m && !Number.isSafeInteger(Number(m[1])))
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'invalid body; nothing was started',
        errors: [{ field: 'expectHead', reason: 'the link number is too large' }],
      });
    try {
      return this.verifications.start(
        apiKeyActor(principalOf(request)),
        m ? { text: body.expectHead!, anchor: { seq: Number(m[1]), hash: m[2] } } : undefined,
      );
    } catch (e) {
      if (e instanceof VerificationRunningError) throw new ConflictException({ error: 'conflict', message: e.message });
      throw e;
    }
  }

  @Get('verifications/:jobId')
  @Roles('ops')
  @ApiOperation({ summary: 'Progress and result of a log verification (role: ops)' })
  @ApiParam({ name: 'jobId', format: 'uuid' })
  @ApiOkResponse({ type: LogVerificationJobDto })
  @ApiResponse({ status: 404, description: 'no such verification in this API process (jobs are kept in memory, the last 50 finished)' })
  verification(@Param('jobId') jobId: string): LogVerificationJobDto {
    const job = this.verifications.get(jobId);
    if (!job) throw new NotFoundException({ error: 'not_found', message: `no log verification ${jobId}` });
    return job;
  }

  @Get('export')
  @Roles('ops')
  @ApiOperation({
    summary: 'export-log: the whole log, up to the head when it starts, as NDJSON with its chain hashes (role: ops)',
    description:
      'A header line, one event a line with its link number and hash, and an end line naming the head: `cem import-log` loads it ' +
      'into an empty store. A response cut short has no end line, so import-log refuses it. Personal data included.',
  })
  @ApiResponse({ status: 200, description: 'the log file', content: { [NDJSON]: { schema: { type: 'string' }, example: EXPORT_EXAMPLE } } })
  @ApiResponse({ status: 429, type: LogStreamsBusyDto, description: `${MAX_LOG_STREAMS} exports or replays are streaming already` })
  exportLog(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    const actor = apiKeyActor(principalOf(request));
    this.stream(reply, `cem-log-${new Date().toISOString().slice(0, 10)}.ndjson`, (write) =>
      exportLogAction(this.platform, actor, {
        storeName: this.platform.config.EVENT_STORE,
        write,
        parameters: { out: 'http' },
      }),
    );
  }

  @Get('events')
  @Roles('ops')
  @UsePipes(queryValidation)
  @ApiOperation({
    summary: 'replay: a range of the log as NDJSON, one recorded event a line (role: ops)',
    description:
      'By position (fromPosition, toPosition: both inclusive) or by recorded time (fromTime inclusive, toTime exclusive); without an end, ' +
      'up to the head when the replay starts. A range that is inverted or beyond the head answers 422 naming the parameter.',
  })
  @ApiResponse({
    status: 200,
    description: 'the events of the range',
    content: { [NDJSON]: { schema: { type: 'string' }, example: REPLAY_LINE_EXAMPLE } },
  })
  @ApiResponse({ status: 422, description: 'a parameter is invalid, missing, combined with the wrong one, inverted or beyond the head' })
  @ApiResponse({ status: 429, type: LogStreamsBusyDto, description: `${MAX_LOG_STREAMS} exports or replays are streaming already` })
  async replay(@Query() q: LogReplayQueryDto, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const range = replayRangeOf(q);
    const head = await checkReplayRange(this.platform.logStore, range, new Date()).catch((e: unknown) => {
      // the CLI's option (--from-position) is this API's parameter (fromPosition); nothing recorded, nothing done
      if (e instanceof ReplayRangeError)
        throw invalidParameter(parameterOf(e.option), e.message.slice(e.option.length + 2).replace(/--[a-z]+(?:-[a-z]+)*/g, parameterOf));
      throw e;
    });
    const actor = apiKeyActor(principalOf(request));
    this.stream(reply, undefined, (write) => replayAction(this.platform, actor, { range, head, write, parameters: { out: 'http' } }));
  }

  /**
   * Streams NDJSON as `run` writes it, with backpressure: a slow client slows the read of the log, it
   * is not buffered. A client that goes away stops the run (recorded as failed); a failure after the
   * first byte cuts the response (an export then has no end line).
   */
  private stream(
    reply: FastifyReply,
    filename: string | undefined,
    run: (write: (text: string) => Promise<void>) => Promise<unknown>,
  ): void {
    if (this.streams >= MAX_LOG_STREAMS) {
      throw new HttpException(
        { error: 'too_many_requests', message: `${MAX_LOG_STREAMS} log exports or replays are streaming already: try again when one ends` },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    this.streams++;
    const out = new PassThrough();
    let gone = false;
    out.once('close', () => (gone = true));
    const write = (text: string) => {
      if (gone) return Promise.reject(new Error('the client went away before the end'));
      if (out.write(text)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const onDrain = () => (out.off('close', onClose), resolve());
        const onClose = () => (out.off('drain', onDrain), reject(new Error('the client went away before the end')));
        out.once('drain', onDrain).once('close', onClose);
      });
    };
    reply.header('content-type', `${NDJSON}; charset=utf-8`);
    if (filename) reply.header('content-disposition', `attachment; filename="${filename}"`);
    reply.send(out);
    run(write)
      .then(
        () => out.end(),
        () => out.destroy(), // recorded as a failed ops action by the run itself
      )
      .finally(() => this.streams--);
  }
}

function replayRangeOf(q: LogReplayQueryDto): ReplayRange {
  if (q.fromPosition === undefined && q.fromTime === undefined) throw invalidParameter('fromPosition', 'give fromPosition or fromTime');
  if (q.fromPosition !== undefined && q.fromTime !== undefined)
    throw invalidParameter('fromTime', 'give fromPosition or fromTime, not both');
  if (q.fromPosition !== undefined) {
    if (q.toTime !== undefined) throw invalidParameter('toTime', 'goes with fromTime; with fromPosition give toPosition');
    return { by: 'position', from: q.fromPosition, to: q.toPosition };
  }
  if (q.toPosition !== undefined) throw invalidParameter('toPosition', 'goes with fromPosition; with fromTime give toTime');
  return {
    by: 'time',
    from: new Date(q.fromTime!).toISOString(),
    to: q.toTime === undefined ? undefined : new Date(q.toTime).toISOString(),
  };
}

/** `--from-position` -> `fromPosition` */
const parameterOf = (option: string) => option.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
