import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsIn, IsInt, IsNumber, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { LIFECYCLE_STAGES, VALUE_SEGMENTS } from '@cem/read-models';
import { BANDS } from '@cem/read-models/churn-risk';
import { IsoInstant } from '@cem/ingestion';
import { ChurnTopFactorDto, INSTANT, IntegerQuery } from '../customers/customers.dto';
import { EXPORT_FORMATS } from '../http/csv';

/** most rows of one page (JSON or CSV) */
export const MAX_CHURN_PAGE = 1000;
export const CHURN_SORTS = ['score', 'valueAtRisk'] as const;

/**
 * A multi-valued query parameter: repeated (`band=high&band=critical`) or comma-separated
 * (`band=high,critical`); every value must be one of `values` (IsIn with `each`).
 */
const ListQuery = () =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' || Array.isArray(value)
      ? ([] as unknown[]).concat(value).flatMap((v) => (typeof v === 'string' ? v.split(',').map((p) => p.trim()) : [v]))
      : value,
  );

/** A decimal number query parameter: only plain decimal text converts ("", "1e3", "0x10" stay strings and are refused). */
const DecimalQuery = () =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^-?[0-9]{1,15}(\.[0-9]{1,6})?$/.test(value) ? Number(value) : value,
  );

const listParam = (values: readonly string[], description: string) =>
  ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', enum: [...values] },
    maxItems: values.length,
    description: `${description}; repeat the parameter or separate values by commas`,
    example: [values[values.length - 1]],
  });

/** `asOf` and read-your-writes, on every churn-risk read. */
export class ChurnAsOfQueryDto {
  @ApiPropertyOptional({
    description:
      'evaluate the scores at this instant (not after now): only events that occurred before it count; default now (the last scheduled re-scoring if younger than 5 minutes)',
    example: '2026-11-20T09:15:00Z',
    ...INSTANT,
  })
  @IsOptional()
  @IsoInstant()
  asOf?: string;

  @ApiPropertyOptional({
    description:
      'read-your-writes: wait (up to 5 s) until the churn-risk read model has handled this log position, e.g. the `position` an ingest call returned',
    example: 1234,
    type: 'integer',
    minimum: 0,
  })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(0)
  minPosition?: number;
}

export class AtRiskQueryDto extends ChurnAsOfQueryDto {
  @listParam(BANDS, 'only these bands')
  @IsOptional()
  @ListQuery()
  @ArrayMaxSize(BANDS.length)
  @IsIn(BANDS as unknown as string[], { each: true, message: `each band must be one of ${BANDS.join(', ')}` })
  band?: string[];

  @listParam(VALUE_SEGMENTS, 'only these value segments (net value at asOf)')
  @IsOptional()
  @ListQuery()
  @ArrayMaxSize(VALUE_SEGMENTS.length)
  @IsIn(VALUE_SEGMENTS as unknown as string[], { each: true, message: `each segment must be one of ${VALUE_SEGMENTS.join(', ')}` })
  segment?: string[];

  @listParam(LIFECYCLE_STAGES, 'only these lifecycle stages (at asOf, the customer 360 rules)')
  @IsOptional()
  @ListQuery()
  @ArrayMaxSize(LIFECYCLE_STAGES.length)
  @IsIn(LIFECYCLE_STAGES as unknown as string[], { each: true, message: `each stage must be one of ${LIFECYCLE_STAGES.join(', ')}` })
  stage?: string[];

  @ApiPropertyOptional({
    type: 'number',
    description: 'only customers whose net value (purchases - refunds) at asOf is at least this',
    example: 250,
  })
  @IsOptional()
  @DecimalQuery()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'minValue must be a decimal number, e.g. 250 or 99.5' })
  minValue?: number;

  @ApiPropertyOptional({
    enum: CHURN_SORTS,
    default: 'score',
    description: 'descending by probability, or by value at risk (probability x net value)',
  })
  @IsOptional()
  @IsIn(CHURN_SORTS as unknown as string[])
  sort?: (typeof CHURN_SORTS)[number];

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_CHURN_PAGE, default: 50 })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  @Max(MAX_CHURN_PAGE)
  limit?: number;

  @ApiPropertyOptional({
    description:
      'nextCursor of the previous page (same filters and sort); it carries the instant of the first page, so `asOf` is not needed with it',
    maxLength: 500,
  })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  cursor?: string;

  @ApiPropertyOptional({
    enum: EXPORT_FORMATS,
    default: 'json',
    description: '`csv`: the same rows as a CSV file (next page: the X-Next-Cursor header)',
  })
  @IsOptional()
  @IsIn(EXPORT_FORMATS as unknown as string[])
  format?: (typeof EXPORT_FORMATS)[number];
}

export class ChurnModelRefDto {
  @ApiProperty({ example: 'churn-risk-logit' }) name!: string;
  @ApiProperty({ type: 'integer', example: 1, description: '0: the prior model, before the first `cem churn fit`' }) version!: number;
  @ApiProperty({ type: 'integer', example: 90, description: 'the probability is of churning within this many days' }) horizonDays!: number;
}

export class ChurnFactorDto extends ChurnTopFactorDto {
  @ApiProperty({ description: "the feature's raw value", example: 4.47 }) value!: number;
}

export class AtRiskItemDto {
  @ApiProperty() customerId!: string;
  @ApiProperty({ description: 'probability of churning within the horizon', example: 0.81 }) probability!: number;
  @ApiProperty({ enum: BANDS }) band!: string;
  @ApiProperty({ example: 1.45 }) logOdds!: number;
  @ApiProperty({ description: 'net value at asOf: purchases - refunds (major units)', example: 1320.5 }) netValue!: number;
  @ApiProperty({ description: 'probability x max(0, net value)', example: 1069.6 }) valueAtRisk!: number;
  @ApiProperty({ enum: VALUE_SEGMENTS }) valueSegment!: string;
  @ApiProperty({ enum: LIFECYCLE_STAGES, description: 'at asOf' }) lifecycleStage!: string;
  @ApiProperty({
    type: ChurnTopFactorDto,
    nullable: true,
    description: 'the largest push towards churn; null when no factor pushes towards it',
  })
  topFactor!: ChurnTopFactorDto | null;
}

export class AtRiskPageDto {
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) asOf!: string;
  @ApiProperty({ type: ChurnModelRefDto }) model!: ChurnModelRefDto;
  @ApiProperty({ type: [AtRiskItemDto] }) items!: AtRiskItemDto[];
  @ApiPropertyOptional({ description: 'absent on the last page' }) nextCursor?: string;
}

export class ChurnScoreDto {
  @ApiProperty() customerId!: string;
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) asOf!: string;
  @ApiProperty({ type: ChurnModelRefDto }) model!: ChurnModelRefDto;
  @ApiProperty({ example: 0.81 }) probability!: number;
  @ApiProperty({ description: 'base + the sum of the factors contributions; probability = 1 / (1 + exp(-logOdds))', example: 1.45 })
  logOdds!: number;
  @ApiProperty({ description: 'log-odds of a customer at the training mean', example: -1.2 }) base!: number;
  @ApiProperty({ enum: BANDS }) band!: string;
  @ApiProperty({ example: 1320.5 }) netValue!: number;
  @ApiProperty({ enum: VALUE_SEGMENTS }) valueSegment!: string;
  @ApiProperty({ enum: LIFECYCLE_STAGES }) lifecycleStage!: string;
  @ApiProperty({
    type: [ChurnFactorDto],
    description: 'every factor of the model, largest in absolute value first (negative: pushes away from churn)',
  })
  factors!: ChurnFactorDto[];
}

class HistogramBinDto {
  @ApiProperty({ example: 0.5 }) from!: number;
  @ApiProperty({ example: 0.6 }) to!: number;
  @ApiProperty({ type: 'integer', example: 12 }) customers!: number;
}
class BandDistributionDto {
  @ApiProperty({ enum: BANDS }) band!: string;
  @ApiProperty({ type: 'integer', example: 40 }) customers!: number;
  @ApiProperty({ type: [HistogramBinDto], description: 'ten 0.1-wide bins of probability, [from, to)' }) histogram!: HistogramBinDto[];
}
export class ChurnDistributionDto {
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) asOf!: string;
  @ApiProperty({ type: ChurnModelRefDto }) model!: ChurnModelRefDto;
  @ApiProperty({ type: 'integer', description: 'customers known at asOf', example: 150 }) customers!: number;
  @ApiProperty({ type: [BandDistributionDto] }) bands!: BandDistributionDto[];
}
