import {
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
  UnprocessableEntityException,
  UsePipes,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  decideSetTarget,
  DomainValidationError,
  TargetExistsError,
  TargetNotFoundError,
  targetStreamId,
  type TargetDefinition,
  type TargetSetV1,
  type TargetState,
} from '@cem/domain';
import { WrongExpectedRevisionError } from '@cem/event-store';
import { appendDecided, latestOf } from '../http/definition-streams';
import type { Platform } from '@cem/platform';
import { EXPERIENCE_METRICS, SEGMENT_ID } from '@cem/read-models/experience-metrics';
import { SEGMENTS } from '@cem/read-models/segments';
import type { ReadSide } from '@cem/read-models';
import { reportTarget, targetMetricProblems, TARGETS, type TargetMetricSource } from '@cem/read-models/targets';
import type { AuthenticatedRequest } from '../auth/authorize';
import { Roles } from '../auth/roles.decorator';
import { READ_SIDE } from '../customers/read-side.token';
import { jsonOrCsv, sendCsv } from '../http/csv';
import { queryValidation } from '../http/query-answers';
import { waitForPosition } from '../http/read-your-writes';
import { PLATFORM } from '../tokens';
import { TARGET_METRICS } from './target-metrics.token';
import { CreateTargetDto, TargetBodyDto, TargetListDto, TargetQueryDto, TargetReportDto, TargetWrittenDto } from './targets.dto';

const unprocessable = (errors: { field: string; reason: string }[]) => ({
  statusCode: 422,
  error: 'validation_failed',
  message: 'the target was refused; nothing was written',
  errors,
});

/**
 * Programme targets (role analyst): created and changed through the API, each change an event on
 * the target's stream (`target.created`, `target.changed`); status from the metric's trend
 * (libs/read-models/src/targets/target-status.ts).
 */
const LIST_CSV_EXAMPLE =
  'asOf,targetId,version,name,metric,sliceDimension,sliceValue,direction,threshold,bucket,startDate,dueDate,status,reason,current,currentBucket,projected,slopePer30Days,points\r\n' +
  '2026-11-20T09:15:00.000Z,nps-high-2027q1,1,NPS of high-value customers,nps,segment,high,at-least,40,month,2026-01-01,2027-03-31,on-track,the trend through 10 complete buckets meets the threshold by the due date,37.5,2026-10-01T00:00:00.000Z,41.2,0.8,10\r\n';
const HISTORY_CSV_EXAMPLE =
  'targetId,at,status,reason,current,currentBucket,projected,slopePer30Days,points\r\n' +
  'nps-high-2027q1,2026-02-01T00:00:00.000Z,at-risk,fewer than 3 complete buckets: the latest value does not meet the threshold,31,2026-01-01T00:00:00.000Z,,,1\r\n';

@ApiTags('targets')
@ApiSecurity('api-key')
@ApiExtraModels(TargetListDto, TargetReportDto)
@Controller('v1/targets')
@UsePipes(queryValidation)
export class TargetsController {
  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(PLATFORM) private readonly platform: Platform,
    @Inject(TARGET_METRICS) private readonly metrics: TargetMetricSource,
  ) {}

  private get targets() {
    return this.readSide.queries[TARGETS];
  }

  @Post()
  @Roles('analyst')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a target: a metric, a slice, a threshold and a due date (role: analyst)' })
  @ApiCreatedResponse({ type: TargetWrittenDto })
  @ApiResponse({ status: 409, description: 'a target with this id exists (change it with PUT); nothing was written' })
  @ApiResponse({
    status: 422,
    description: 'invalid: unknown metric or slice, bad dates or threshold; errors name each field; nothing was written',
  })
  async create(@Body() body: CreateTargetDto, @Req() request: AuthenticatedRequest): Promise<TargetWrittenDto> {
    const { targetId, ...target } = body;
    return this.write('create', targetId, target, request);
  }

  @Put(':targetId')
  @Roles('analyst')
  @ApiOperation({ summary: 'Change a target: the whole definition, recorded as a new version (role: analyst)' })
  @ApiParam({ name: 'targetId', example: 'nps-high-2027q1' })
  @ApiOkResponse({ type: TargetWrittenDto })
  @ApiResponse({ status: 404, description: 'no such target' })
  @ApiResponse({ status: 409, description: 'changed by someone else at the same moment; read it again and retry' })
  async change(
    @Param('targetId') targetId: string,
    @Body() body: TargetBodyDto,
    @Req() request: AuthenticatedRequest,
  ): Promise<TargetWrittenDto> {
    return this.write('change', targetId, body, request);
  }

  @Get()
  @Roles('analyst')
  @ApiOperation({
    summary: 'Every target with its status: on-track, at-risk, met or missed (role: analyst)',
    description: 'Status method: docs/milestones-and-targets.md. `format=csv` exports one line per target.',
  })
  @ApiOkResponse(jsonOrCsv(TargetListDto, LIST_CSV_EXAMPLE))
  async list(@Query() q: TargetQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const at = await this.consistent(q);
    const metrics = this.metrics;
    const items = await Promise.all((await this.targets.list()).map((v) => reportTarget(v, metrics, at)));
    const asOf = new Date(at).toISOString();
    if (q.format === 'csv')
      return sendCsv(
        reply,
        'targets.csv',
        LIST_COLUMNS,
        items.map((i) => ({
          asOf,
          targetId: i.targetId,
          version: i.version,
          ...i.target,
          sliceDimension: i.target.slice?.dimension,
          sliceValue: i.target.slice?.value,
          ...i.status,
        })),
      );
    return { asOf, items: items.map(({ history: _h, series: _s, ...summary }) => summary) };
  }

  @Get(':targetId')
  @Roles('analyst')
  @ApiOperation({
    summary: 'One target: status, status history, the series it is read from and every change (role: analyst)',
    description: '`format=csv` exports the status history, one line per complete bucket.',
  })
  @ApiParam({ name: 'targetId', example: 'nps-high-2027q1' })
  @ApiOkResponse(jsonOrCsv(TargetReportDto, HISTORY_CSV_EXAMPLE))
  @ApiResponse({ status: 404, description: 'no such target' })
  async byId(@Param('targetId') targetId: string, @Query() q: TargetQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const at = await this.consistent(q);
    const view = await this.targets.byId(targetId);
    if (!view) throw new NotFoundException({ error: 'not_found', message: 'no such target' });
    const report = await reportTarget(view, this.metrics, at);
    if (q.format === 'csv')
      return sendCsv(
        reply,
        `target-${targetId}-history.csv`,
        HISTORY_COLUMNS,
        report.history.map((h) => ({ targetId, ...h })),
      );
    return { ...report, changes: await this.targets.changes(targetId) };
  }

  private async consistent(q: TargetQueryDto): Promise<number> {
    // the status reads the targets and the experience metrics: both must have handled the position
    await waitForPosition(this.platform, this.readSide, q.minPosition, TARGETS);
    await waitForPosition(this.platform, this.readSide, q.minPosition, EXPERIENCE_METRICS);
    return q.at ? Date.parse(q.at) : Date.now();
  }

  /** read -> decide -> append with the expected revision: a concurrent change is a 409, never a lost update */
  private async write(
    kind: 'create' | 'change',
    targetId: string,
    body: TargetBodyDto,
    request: AuthenticatedRequest,
  ): Promise<TargetWrittenDto> {
    const target: TargetDefinition = {
      name: body.name,
      metric: body.metric,
      slice: body.slice ? { dimension: body.slice.dimension, value: body.slice.value } : null,
      direction: body.direction,
      threshold: body.threshold,
      bucket: body.bucket ?? 'month',
      startDate: body.startDate,
      dueDate: body.dueDate,
    };
    const problems = [...targetMetricProblems(target, this.metrics), ...(await this.segmentSliceProblems(target))];
    if (problems.length > 0) throw new UnprocessableEntityException(unprocessable(problems));
    const streamId = targetStreamId(targetId);
    const state = await this.stateOf(streamId);
    try {
      const events = decideSetTarget(
        { kind, targetId, target, changedBy: request.principal?.keyId ?? 'unknown', occurredAt: new Date().toISOString() },
        state,
      );
      const position = await appendDecided(this.platform.store, streamId, state.revision, events);
      return { targetId, version: (events[0].data as TargetSetV1).version, position };
    } catch (e) {
      if (e instanceof DomainValidationError) throw new UnprocessableEntityException(unprocessable(e.errors));
      if (e instanceof TargetExistsError) throw new ConflictException({ error: 'target_exists', message: e.message });
      if (e instanceof TargetNotFoundError) throw new NotFoundException({ error: 'not_found', message: e.message });
      if (e instanceof WrongExpectedRevisionError)
        throw new ConflictException({
          error: 'concurrent_change',
          message: 'the target was changed at the same moment; read it again and retry',
        });
      throw e;
    }
  }

  /** a target on an analyst segment (`segmentId` slice) must name an active one, as a metric query must */
  private async segmentSliceProblems(target: TargetDefinition): Promise<{ field: string; reason: string }[]> {
    if (target.slice?.dimension !== SEGMENT_ID) return [];
    const status = (await this.readSide.queries[SEGMENTS].statuses()).get(target.slice.value);
    if (status === 'active') return [];
    const reason =
      status === 'archived'
        ? `segment "${target.slice.value}" is archived: its members left it, a target on it could not be met`
        : `segment "${target.slice.value}" is not a segment (GET /v1/segments lists them)`;
    return [{ field: 'slice.value', reason }];
  }

  private async stateOf(streamId: string): Promise<TargetState> {
    const last = await latestOf(this.platform.store, streamId);
    return last ? { revision: last.revision, version: (last.data as TargetSetV1).version } : { revision: -1, version: 0 };
  }
}

const LIST_COLUMNS = [
  'asOf',
  'targetId',
  'version',
  'name',
  'metric',
  'sliceDimension',
  'sliceValue',
  'direction',
  'threshold',
  'bucket',
  'startDate',
  'dueDate',
  'status',
  'reason',
  'current',
  'currentBucket',
  'projected',
  'slopePer30Days',
  'points',
];
const HISTORY_COLUMNS = ['targetId', 'at', 'status', 'reason', 'current', 'currentBucket', 'projected', 'slopePer30Days', 'points'];
