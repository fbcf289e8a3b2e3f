import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import {
  DIMENSION_PAIRS,
  DIMENSIONS,
  GRANULARITIES,
  MAX_FILTER_VALUES,
  MAX_SERIES_BUCKETS,
  METRIC_NAMES,
  pairName,
} from '@cem/read-models/experience-metrics';
import { ConsistencyQueryDto } from '../customers/customers.dto';
import { EXPORT_FORMATS } from '../http/csv';

const LOCAL_DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const FILTER = new RegExp(`^(${DIMENSIONS.join('|')}):[^\\s].{0,199}$`);
const ZONE = /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/;

/** Query of a metric time series. Cross-parameter rules (range, limits, time zone) are checked by parseSeriesQuery. */
export class MetricSeriesQueryDto extends ConsistencyQueryDto {
  @ApiProperty({
    enum: METRIC_NAMES,
    example: 'nps',
    description: 'the metric (definitions: docs/experience-metrics.md, GET /v1/experience-metrics)',
  })
  @IsIn(METRIC_NAMES as unknown as string[], { message: `unknown metric; one of ${METRIC_NAMES.join(', ')}` })
  metric!: string;

  @ApiProperty({ enum: GRANULARITIES, example: 'week', description: 'bucket size, in the reporting time zone' })
  @IsIn(GRANULARITIES as unknown as string[], { message: `must be one of ${GRANULARITIES.join(', ')}` })
  bucket!: string;

  @ApiProperty({
    example: '2026-01-01',
    format: 'date',
    pattern: LOCAL_DATE.source,
    description: 'first local date, inclusive (the series starts with the bucket holding it)',
  })
  @Matches(LOCAL_DATE, { message: 'must be a calendar date YYYY-MM-DD' })
  from!: string;

  @ApiProperty({
    example: '2026-04-01',
    format: 'date',
    pattern: LOCAL_DATE.source,
    description: `local date, exclusive: after from, at most ${MAX_SERIES_BUCKETS} buckets later`,
  })
  @Matches(LOCAL_DATE, { message: 'must be a calendar date YYYY-MM-DD' })
  to!: string;

  @ApiPropertyOptional({
    example: 'UTC',
    pattern: ZONE.source,
    description: 'IANA time zone; must be the reporting time zone (METRICS_TIME_ZONE), the default',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  timeZone?: string;

  @ApiPropertyOptional({
    enum: DIMENSIONS,
    example: 'channel',
    description:
      'one series per value of this dimension. `segment` is the value segment; `segmentId` gives one series per active analyst ' +
      'segment (docs/segments.md): the events of customers while they were in it, so the series overlap',
  })
  @IsOptional()
  @IsIn(DIMENSIONS as unknown as string[], { message: `unknown slice; one of ${DIMENSIONS.join(', ')}` })
  sliceBy?: string;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: FILTER.source, maxLength: 210 },
    maxItems: MAX_FILTER_VALUES,
    example: ['segment:high', 'segment:strategic'],
    description:
      '`dimension:value`, repeatable: values of one dimension are summed (any of them); sliceBy and the filters name one dimension, ' +
      `or the two of a pair (${DIMENSION_PAIRS.map(pairName).join(', ')}): e.g. sliceBy=channel&filter=segment:high. ` +
      '`segmentId:<id>` keeps the events of the customers of an analyst segment while they were in it (e.g. ' +
      'filter=segmentId:at-risk-promoters); the id must name an active segment (422 otherwise), and one per series unless sliceBy=segmentId',
  })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? [value] : value))
  @IsArray()
  @ArrayMaxSize(MAX_FILTER_VALUES)
  @IsString({ each: true })
  @Matches(FILTER, { each: true, message: `must be dimension:value with a dimension among ${DIMENSIONS.join(', ')}` })
  filter?: string[];

  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'json', description: '`csv`: one line per slice and bucket' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS as unknown as string[])
  format?: (typeof EXPORT_FORMATS)[number];
}

const POINT_EXAMPLE = {
  bucket: '2026-01-05',
  start: '2026-01-05T00:00:00Z',
  end: '2026-01-12T00:00:00Z',
  value: 32.5,
  promoters: 61,
  passives: 30,
  detractors: 29,
  responses: 120,
};

export class MetricSeriesLineDto {
  @ApiProperty({ description: 'the slice value; `*` for the totals', example: 'phone' })
  slice!: string;

  @ApiProperty({
    description:
      'one point per bucket of the range: bucket (its first local date), start and end (UTC), value (null: no data) and the parts of the metric',
    type: 'array',
    items: {
      type: 'object',
      required: ['bucket', 'start', 'end', 'value'],
      properties: {
        bucket: { type: 'string', format: 'date' },
        start: { type: 'string', format: 'date-time' },
        end: { type: 'string', format: 'date-time' },
        value: { type: 'number', nullable: true },
      },
      additionalProperties: { type: 'number', nullable: true },
    },
    example: [POINT_EXAMPLE],
  })
  points!: Record<string, unknown>[];
}

export class MetricFilterDto {
  @ApiProperty({ enum: DIMENSIONS }) dimension!: string;
  @ApiProperty({ type: [String], example: ['high', 'strategic'] }) values!: string[];
}

export class MetricSeriesDto {
  @ApiProperty({ enum: METRIC_NAMES, example: 'nps' }) metric!: string;
  @ApiProperty({ example: 'Net Promoter Score: % promoters (9-10) minus % detractors (0-6) of the NPS answers' }) summary!: string;
  @ApiProperty({ enum: GRANULARITIES, example: 'week' }) bucket!: string;
  @ApiProperty({ example: 'UTC' }) timeZone!: string;
  @ApiProperty({ example: '2026-01-01', format: 'date' }) from!: string;
  @ApiProperty({ example: '2026-04-01', format: 'date' }) to!: string;
  @ApiProperty({ type: String, nullable: true, example: 'channel', description: 'the sliceBy dimension; null without one' })
  sliceBy!: string | null;
  @ApiProperty({
    type: 'object',
    nullable: true,
    required: ['dimension', 'values'],
    properties: { dimension: { type: 'string' }, values: { type: 'array', items: { type: 'string' } } },
    example: null,
  })
  filter!: MetricFilterDto | null;
  @ApiProperty({
    type: 'array',
    description: 'every filter, one per dimension (two for a pair of dimensions); `filter` is the first of them',
    items: {
      type: 'object',
      required: ['dimension', 'values'],
      properties: { dimension: { type: 'string' }, values: { type: 'array', items: { type: 'string' } } },
    },
    example: [{ dimension: 'segment', values: ['high'] }],
  })
  filters!: MetricFilterDto[];
  @ApiProperty({ type: [MetricSeriesLineDto] }) series!: MetricSeriesLineDto[];
}

export class MetricDescriptionDto {
  @ApiProperty({ example: 'nps' }) name!: string;
  @ApiProperty({ example: 'Net Promoter Score: % promoters (9-10) minus % detractors (0-6) of the NPS answers' }) summary!: string;
  @ApiProperty({ type: [String], example: ['promoters', 'passives', 'detractors', 'responses'] }) parts!: string[];
}

export class MetricCatalogueDto {
  @ApiProperty({ type: [MetricDescriptionDto] }) metrics!: MetricDescriptionDto[];
  @ApiProperty({ type: [String], example: DIMENSIONS }) dimensions!: string[];
  @ApiProperty({ type: [String], example: GRANULARITIES }) buckets!: string[];
  @ApiProperty({ example: 'UTC', description: 'the reporting time zone (METRICS_TIME_ZONE)' }) timeZone!: string;
  @ApiProperty({ example: MAX_SERIES_BUCKETS }) maxBuckets!: number;
  @ApiProperty({ example: 0.005, description: 'percentiles are within this relative error of the exact nearest-rank value' })
  percentileRelativeError!: number;
}
