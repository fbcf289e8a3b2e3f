import { Controller, Get, Inject, Param, Query, Res, UsePipes } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Platform } from '@cem/platform';
import { InvalidCursorError, type LifecycleStage, type ReadSide, type ValueSegment } from '@cem/read-models';
import type { ChurnBand } from '@cem/domain';
import { CHURN_RISK, type ScoredCustomer } from '@cem/read-models/churn-risk';
import { Roles } from '../auth/roles.decorator';
import { MergedPointerDto } from '../customers/customers.dto';
import { READ_SIDE } from '../customers/read-side.token';
import { jsonOrCsv, sendCsv } from '../http/csv';
import { customerAnswer, invalidParameter, queryValidation } from '../http/query-answers';
import { waitForPosition } from '../http/read-your-writes';
import { PLATFORM } from '../tokens';
import {
  AtRiskPageDto,
  AtRiskQueryDto,
  ChurnAsOfQueryDto,
  ChurnDistributionDto,
  ChurnScoreDto,
  type AtRiskItemDto,
} from './churn-risk.dto';

const DEFAULT_LIMIT = 50;

export const AT_RISK_CSV_COLUMNS = [
  'customerId',
  'probability',
  'band',
  'logOdds',
  'netValue',
  'valueAtRisk',
  'valueSegment',
  'lifecycleStage',
  'topFactor',
  'topFactorContribution',
  'topFactorReason',
  'asOf',
  'modelName',
  'modelVersion',
];
const AT_RISK_CSV_EXAMPLE =
  `${AT_RISK_CSV_COLUMNS.join(',')}\r\n` +
  'c-7f3a,0.81,critical,1.45,1320.5,1069.6,high,at_risk,recency_ratio,0.84,no purchase for 94 days; usual gap 21 days,2026-11-20T09:15:00.000Z,churn-risk-logit,1\r\n';

const item = (c: ScoredCustomer): AtRiskItemDto => ({
  customerId: c.customerId,
  probability: c.probability,
  band: c.band,
  logOdds: c.logOdds,
  netValue: c.netValue,
  valueAtRisk: c.valueAtRisk,
  valueSegment: c.valueSegment,
  lifecycleStage: c.lifecycleStage,
  topFactor: c.topFactor,
});

/**
 * The churn-risk analyst API (role analyst): the at-risk list, one customer's explained score, the
 * distribution per band; every read at any past instant (`asOf`) from the events before it.
 * docs/churn-risk.md, "Analyst API".
 */
@ApiTags('churn-risk')
@ApiExtraModels(AtRiskPageDto)
@ApiSecurity('api-key')
@Controller('v1/churn-risk')
@UsePipes(queryValidation)
export class ChurnRiskController {
  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(PLATFORM) private readonly platform: Platform,
  ) {}

  private get churnRisk() {
    return this.readSide.queries[CHURN_RISK];
  }

  /**
   * read-your-writes on the churn-risk read model; the instant `asOf` names, if any. An instant after
   * now is refused: its score would be a forecast from facts not known yet, changing as they arrive.
   */
  private async consistent(q: ChurnAsOfQueryDto): Promise<number | undefined> {
    const asOf = q.asOf === undefined ? undefined : Date.parse(q.asOf);
    const now = this.churnRisk.now();
    if (asOf !== undefined && asOf > now)
      throw invalidParameter('asOf', `must not be in the future (now is ${new Date(now).toISOString()})`);
    await waitForPosition(this.platform, this.readSide, q.minPosition, CHURN_RISK);
    return asOf;
  }

  /** A cursor the read model does not accept, as a 422 naming `cursor`. */
  private async withCursor<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (e) {
      if (e instanceof InvalidCursorError) throw invalidParameter('cursor', e.message);
      throw e;
    }
  }

  @Get()
  @Roles('analyst')
  @ApiOperation({
    summary:
      'At-risk customers: filtered by band, value segment, lifecycle stage and minimum value, sorted by score or value at risk (role: analyst)',
    description:
      'Keyset pagination: pass nextCursor back with the same filters and sort; every page of a listing is of the instant of its first page. ' +
      '`format=csv` exports the same rows (the next page cursor is in the X-Next-Cursor header).',
  })
  @ApiOkResponse({
    ...jsonOrCsv(AtRiskPageDto, AT_RISK_CSV_EXAMPLE),
    headers: {
      'X-Next-Cursor': { description: 'CSV only: the cursor of the next page (absent on the last page)', schema: { type: 'string' } },
    },
  })
  @ApiResponse({
    status: 422,
    description:
      'a parameter is invalid (asOf not ISO-8601 or in the future, unknown band / segment / stage / sort, limit, cursor or minValue)',
  })
  async atRisk(@Query() q: AtRiskQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const asOf = await this.consistent(q);
    const page = await this.withCursor(() =>
      this.churnRisk.atRisk(
        {
          bands: q.band as ChurnBand[] | undefined,
          segments: q.segment as ValueSegment[] | undefined,
          stages: q.stage as LifecycleStage[] | undefined,
          minValue: q.minValue,
          sort: q.sort ?? 'score',
          limit: q.limit ?? DEFAULT_LIMIT,
          cursor: q.cursor,
        },
        asOf,
      ),
    );
    const items = page.items.map(item);
    if (q.format !== 'csv') return { asOf: page.asOf, model: page.model, items, nextCursor: page.nextCursor };
    if (page.nextCursor) reply.header('x-next-cursor', page.nextCursor);
    const rows = items.map((i) => ({
      ...i,
      topFactor: i.topFactor?.name,
      topFactorContribution: i.topFactor?.contribution,
      topFactorReason: i.topFactor?.reason,
      asOf: page.asOf,
      modelName: page.model.name,
      modelVersion: page.model.version,
    }));
    return sendCsv(reply, 'churn-risk.csv', AT_RISK_CSV_COLUMNS, rows);
  }

  @Get('distribution')
  @Roles('analyst')
  @ApiOperation({ summary: 'Customers per churn band with a histogram of probabilities, now or at a past instant (role: analyst)' })
  @ApiOkResponse({ type: ChurnDistributionDto })
  @ApiResponse({ status: 422, description: 'a parameter is invalid (asOf not ISO-8601 or in the future, minPosition)' })
  async distribution(@Query() q: ChurnAsOfQueryDto): Promise<ChurnDistributionDto> {
    const asOf = await this.consistent(q);
    return this.churnRisk.distribution(asOf);
  }

  @Get('customers/:id')
  @Roles('analyst')
  @ApiOperation({
    summary: "One customer's churn risk with every factor and its reason (role: analyst)",
    description: 'logOdds = base + the sum of the contributions; probability = 1 / (1 + exp(-logOdds)).',
  })
  @ApiParam({ name: 'id', description: 'customer id' })
  @ApiOkResponse({ type: ChurnScoreDto })
  @ApiResponse({ status: 307, type: MergedPointerDto, description: 'merged into another customer: Location names the survivor' })
  @ApiResponse({ status: 404, description: 'unknown customer, or no touch point before asOf' })
  @ApiResponse({ status: 422, description: 'a parameter is invalid (asOf not ISO-8601 or in the future, minPosition)' })
  async customer(@Param('id') id: string, @Query() q: ChurnAsOfQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const asOf = await this.consistent(q);
    const score = await this.churnRisk.score(id, asOf);
    const found =
      score === undefined
        ? ({ kind: 'not-found' } as const)
        : 'mergedInto' in score
          ? ({ kind: 'merged', customerId: id, survivorId: score.mergedInto } as const)
          : ({ kind: 'found', view: score } as const);
    const query = q.asOf ? `?asOf=${encodeURIComponent(q.asOf)}` : '';
    return customerAnswer<ChurnScoreDto>(found, reply, (survivor) => `/v1/churn-risk/customers/${encodeURIComponent(survivor)}${query}`);
  }
}
