import { Controller, Get, Inject, Param, Query, Res, UsePipes } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { ReadSide } from '@cem/read-models';
import type { Platform } from '@cem/platform';
import { MILESTONES, UnknownMilestoneError, type MilestoneSlice } from '@cem/read-models/milestones';
import { Roles } from '../auth/roles.decorator';
import { READ_SIDE } from '../customers/read-side.token';
import { ConsistencyQueryDto, MergedPointerDto } from '../customers/customers.dto';
import { jsonOrCsv, sendCsv } from '../http/csv';
import { customerAnswer, invalidParameter, queryValidation } from '../http/query-answers';
import { waitForPosition } from '../http/read-your-writes';
import { PLATFORM } from '../tokens';
import {
  CustomerMilestonesDto,
  DefinitionsDto,
  FunnelDto,
  MAX_COHORT_MONTHS,
  MilestoneSliceQueryDto,
  TimeToMilestoneDto,
  TimeToMilestoneQueryDto,
} from './milestones.dto';

const withoutKind = <T extends { kind: string }>({ kind: _kind, ...rest }: T) => rest;

const monthIndex = (cohort: string) => Number(cohort.slice(0, 4)) * 12 + Number(cohort.slice(5, 7)) - 1;

const FUNNEL_CSV_EXAMPLE =
  'asOf,cohort,segment,milestoneId,label,customers,reached,missed,open,conversion,fromPrevious\r\n' +
  '2026-11-20T09:15:00.000Z,2026-01,,onboarded,First purchase within 30 days of the first touch,1200,840,300,60,0.7,\r\n';
const TTM_CSV_EXAMPLE = 'milestoneId,cohort,segment,reached,p50Days,p90Days,meanDays\r\nonboarded,,,840,6.25,24.5,9.1\r\n';
const FUNNEL_COLUMNS = [
  'asOf',
  'cohort',
  'segment',
  'milestoneId',
  'label',
  'customers',
  'reached',
  'missed',
  'open',
  'conversion',
  'fromPrevious',
];
const TTM_COLUMNS = ['milestoneId', 'cohort', 'segment', 'reached', 'p50Days', 'p90Days', 'meanDays'];

/** The journey-milestones API (role analyst): definitions, funnel, time to milestone, one customer's milestones. */
@ApiTags('milestones')
@ApiExtraModels(FunnelDto, TimeToMilestoneDto)
@ApiSecurity('api-key')
@Controller('v1/milestones')
@UsePipes(queryValidation)
export class MilestonesController {
  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(PLATFORM) private readonly platform: Platform,
  ) {}

  /** read-your-writes (`minPosition`) on the milestones read model; the instant `at` names, if any */
  private async consistent(q: ConsistencyQueryDto): Promise<number | undefined> {
    await waitForPosition(this.platform, this.readSide, q.minPosition, MILESTONES);
    return q.at ? Date.parse(q.at) : undefined;
  }

  private get milestones() {
    return this.readSide.queries[MILESTONES];
  }

  @Get('definitions')
  @Roles('analyst')
  @ApiOperation({
    summary: 'The milestone definitions in use and every earlier version (role: analyst)',
    description:
      'Definitions come from DATA_DIR/milestones.json (built-in defaults without one); a changed file is a new version and recomputes the read model.',
  })
  @ApiOkResponse({ type: DefinitionsDto })
  async definitions(@Query() q: ConsistencyQueryDto): Promise<DefinitionsDto> {
    await this.consistent(q);
    const history = await this.milestones.definitionHistory();
    return { active: history.find((h) => h.active) ?? null, history };
  }

  @Get('funnel')
  @Roles('analyst')
  @ApiOperation({
    summary: 'Milestone funnel: reached, missed, open and conversion per milestone, by cohort and segment (role: analyst)',
    description: 'Steps in definition order. `format=csv` exports one line per group and step.',
  })
  @ApiOkResponse(jsonOrCsv(FunnelDto, FUNNEL_CSV_EXAMPLE))
  @ApiResponse({
    status: 422,
    description: 'a parameter is invalid (cohort not YYYY-MM, cohortTo before cohortFrom or too far after it, unknown segment or groupBy)',
  })
  async funnel(@Query() q: MilestoneSliceQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const at = await this.consistent(q);
    const result = await this.milestones.funnel(this.slice(q), at);
    if (q.format !== 'csv') return result;
    const rows = result.groups.flatMap((g) => g.steps.map((s) => ({ asOf: result.asOf, cohort: g.cohort, segment: g.segment, ...s })));
    return sendCsv(reply, 'milestone-funnel.csv', FUNNEL_COLUMNS, rows);
  }

  @Get('time-to-milestone')
  @Roles('analyst')
  @ApiOperation({
    summary: 'Days from the first touch to each milestone: exact p50 / p90 and mean, by cohort and segment (role: analyst)',
    description: 'Only customers who reached the milestone count. `format=csv` exports the same lines.',
  })
  @ApiOkResponse(jsonOrCsv(TimeToMilestoneDto, TTM_CSV_EXAMPLE))
  @ApiResponse({ status: 422, description: 'a parameter is invalid, or `milestone` names no milestone of the active definitions' })
  async timeToMilestone(@Query() q: TimeToMilestoneQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    await this.consistent(q);
    let result: TimeToMilestoneDto;
    try {
      result = await this.milestones.timeToMilestone({ ...this.slice(q), milestone: q.milestone });
    } catch (e) {
      if (e instanceof UnknownMilestoneError)
        throw invalidParameter('milestone', `${e.message}: not one of the active definitions (GET /v1/milestones/definitions)`);
      throw e;
    }
    if (q.format !== 'csv') return result;
    return sendCsv(reply, 'time-to-milestone.csv', TTM_COLUMNS, result.items as unknown as Record<string, unknown>[]);
  }

  @Get('customers/:id')
  @Roles('analyst')
  @ApiOperation({ summary: "One customer's milestones: reached (when), missed, open (role: analyst)" })
  @ApiParam({ name: 'id', description: 'customer id' })
  @ApiOkResponse({ type: CustomerMilestonesDto })
  @ApiResponse({ status: 307, type: MergedPointerDto, description: 'merged into another customer: Location names the survivor' })
  @ApiResponse({ status: 404, description: 'unknown customer' })
  async customer(@Param('id') id: string, @Query() q: ConsistencyQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const found = await this.milestones.customer(id, await this.consistent(q));
    return customerAnswer(
      found.kind === 'found' ? { kind: 'found', view: withoutKind(found) } : found,
      reply,
      (survivor) => `/v1/milestones/customers/${survivor}`,
    );
  }

  private slice(q: MilestoneSliceQueryDto): MilestoneSlice {
    if (q.cohortFrom !== undefined && q.cohortTo !== undefined) {
      const months = monthIndex(q.cohortTo) - monthIndex(q.cohortFrom);
      if (months < 0) throw invalidParameter('cohortTo', `is before cohortFrom (${q.cohortFrom})`);
      if (months >= MAX_COHORT_MONTHS) throw invalidParameter('cohortTo', `the range may span at most ${MAX_COHORT_MONTHS} months`);
    }
    return { cohortFrom: q.cohortFrom, cohortTo: q.cohortTo, segment: q.segment, groupBy: q.groupBy };
  }
}
