import { Controller, Get, Inject, Query, Res, UsePipes } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiResponse, ApiSecurity, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { ReadSide } from '@cem/read-models';
import type { Platform } from '@cem/platform';
import {
  DIMENSIONS,
  EXPERIENCE_METRICS,
  GRANULARITIES,
  MAX_SERIES_BUCKETS,
  METRIC_NAMES,
  METRICS,
  MetricQueryError,
  RELATIVE_ACCURACY,
} from '@cem/read-models/experience-metrics';
import { SEGMENTS } from '@cem/read-models/segments';
import { Roles } from '../auth/roles.decorator';
import { READ_SIDE } from '../customers/read-side.token';
import { ConsistencyQueryDto } from '../customers/customers.dto';
import { jsonOrCsv, sendCsv } from '../http/csv';
import { invalidParameter, queryValidation } from '../http/query-answers';
import { waitForPosition } from '../http/read-your-writes';
import { PLATFORM } from '../tokens';
import { MetricCatalogueDto, MetricSeriesDto, MetricSeriesQueryDto } from './experience-metrics.dto';

const CSV_EXAMPLE =
  'metric,slice,bucket,start,end,value,promoters,passives,detractors,responses\r\n' +
  'nps,phone,2026-01-05,2026-01-05T00:00:00Z,2026-01-12T00:00:00Z,32.5,61,30,29,120\r\n';

const POINT = (bucket: string, start: string, end: string, promoters: number, passives: number, detractors: number) => {
  const responses = promoters + passives + detractors;
  return { bucket, start, end, value: (100 * (promoters - detractors)) / responses, promoters, passives, detractors, responses };
};
/** A series of one analyst segment (`filter=segmentId:...`): what its members answered while they were in it. */
const SEGMENT_SERIES_EXAMPLE = {
  metric: 'nps',
  summary: METRICS.nps.summary,
  bucket: 'week',
  timeZone: 'UTC',
  from: '2026-11-16',
  to: '2026-11-30',
  sliceBy: null,
  filter: { dimension: 'segmentId', values: ['at-risk-promoters'] },
  filters: [{ dimension: 'segmentId', values: ['at-risk-promoters'] }],
  series: [
    {
      slice: '*',
      points: [
        POINT('2026-11-16', '2026-11-16T00:00:00Z', '2026-11-23T00:00:00Z', 12, 5, 3),
        POINT('2026-11-23', '2026-11-23T00:00:00Z', '2026-11-30T00:00:00Z', 9, 6, 5),
      ],
    },
  ],
};
const error422 = (field: string, reason: string) => ({
  statusCode: 422,
  error: 'validation_failed',
  message: 'invalid query parameters',
  errors: [{ field, reason }],
});

/** The experience-metrics API (role analyst): the metrics catalogue and metric time series, JSON or CSV. */
@ApiTags('experience-metrics')
@ApiExtraModels(MetricSeriesDto)
@ApiSecurity('api-key')
@Controller('v1/experience-metrics')
@UsePipes(queryValidation)
export class ExperienceMetricsController {
  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(PLATFORM) private readonly platform: Platform,
  ) {}

  private get metrics() {
    return this.readSide.queries[EXPERIENCE_METRICS];
  }

  @Get()
  @Roles('analyst')
  @ApiOperation({ summary: 'The metrics, slice dimensions, bucket sizes and reporting time zone (role: analyst)' })
  @ApiOkResponse({ type: MetricCatalogueDto })
  async catalogue(@Query() q: ConsistencyQueryDto): Promise<MetricCatalogueDto> {
    await waitForPosition(this.platform, this.readSide, q.minPosition, EXPERIENCE_METRICS);
    return {
      metrics: METRIC_NAMES.map((name) => ({ name, summary: METRICS[name].summary, parts: [...METRICS[name].parts] })),
      dimensions: [...DIMENSIONS],
      buckets: [...GRANULARITIES],
      timeZone: this.metrics.timeZone,
      maxBuckets: MAX_SERIES_BUCKETS,
      percentileRelativeError: RELATIVE_ACCURACY,
    };
  }

  @Get('series')
  @Roles('analyst')
  @ApiOperation({
    summary:
      'A metric time series by day, week or month, sliced by one dimension and/or filtered, on one dimension or a pair (role: analyst)',
    description:
      'Buckets in the reporting time zone, by occurredAt (late events in their bucket). Every bucket of the range is present. ' +
      '`format=csv` exports one line per slice and bucket. Definitions: docs/experience-metrics.md.',
  })
  @ApiOkResponse({
    ...jsonOrCsv(MetricSeriesDto, CSV_EXAMPLE),
    content: {
      ...jsonOrCsv(MetricSeriesDto, CSV_EXAMPLE).content,
      'application/json': {
        schema: { $ref: getSchemaPath(MetricSeriesDto) },
        examples: {
          analystSegment: {
            summary: 'filter=segmentId:at-risk-promoters (an analyst segment, docs/segments.md)',
            value: SEGMENT_SERIES_EXAMPLE,
          },
        },
      },
    },
  })
  @ApiResponse({
    status: 422,
    description:
      'a parameter is invalid, named in `errors[].field`: unknown metric or slice, bucket not day/week/month, a date not YYYY-MM-DD, ' +
      `to not after from, more than ${MAX_SERIES_BUCKETS} buckets, unknown time zone or not the reporting one, dimensions that are not one or a combinable pair, ` +
      `a pair for a distinct-customer metric, cost-to-serve without CONTACT_COSTS, ` +
      'a `segmentId` filter naming an unknown or archived segment, or several segment ids without `sliceBy=segmentId`',
    content: {
      'application/json': {
        schema: { $ref: '#/components/schemas/ErrorBody' },
        examples: {
          unknownSegment: {
            summary: 'filter=segmentId:no-such-segment',
            value: error422('filter', 'segmentId "no-such-segment" is not a segment (GET /v1/segments lists them)'),
          },
          archivedSegment: {
            summary: 'filter=segmentId:old-campaign, archived',
            value: error422('filter', 'segmentId "old-campaign" is archived: its members left it, it is no longer sliced by'),
          },
        },
      },
    },
  })
  async series(@Query() q: MetricSeriesQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    await waitForPosition(this.platform, this.readSide, q.minPosition, EXPERIENCE_METRICS);
    let result;
    try {
      // a segmentId slice names analyst segments: unknown and archived ids are refused
      result = await this.metrics.seriesOf(q, { segments: this.readSide.queries[SEGMENTS] });
    } catch (e) {
      if (e instanceof MetricQueryError) throw invalidParameter(e.parameter, e.reason);
      throw e;
    }
    if (q.format !== 'csv') return result;
    const parts = METRICS[result.metric as keyof typeof METRICS].parts;
    const columns = ['metric', 'slice', 'bucket', 'start', 'end', 'value', ...parts];
    const rows = result.series.flatMap((line) => line.points.map((p) => ({ metric: result.metric, slice: line.slice, ...p })));
    return sendCsv(reply, `${result.metric}-${result.bucket}.csv`, columns, rows);
  }
}
