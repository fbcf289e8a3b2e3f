import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsNumber, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { ISO_DATE, TARGET_BUCKETS, TARGET_DIRECTIONS, TARGET_ID } from '@cem/domain';
import { TARGET_STATUSES } from '@cem/read-models/targets';
import { ConsistencyQueryDto } from '../customers/customers.dto';
import { EXPORT_FORMATS } from '../http/csv';

export class TargetSliceDto {
  @ApiProperty({ description: 'a slice dimension of the experience metrics', example: 'segment', maxLength: 40 })
  @IsString()
  @MaxLength(40)
  dimension!: string;

  @ApiProperty({ description: 'one value of it', example: 'high', minLength: 1, maxLength: 200 })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  value!: string;
}

/** A target's definition as sent to PUT /v1/targets/{targetId} (and, with targetId, to POST /v1/targets). */
export class TargetBodyDto {
  @ApiProperty({ example: 'NPS of high-value customers', minLength: 1, maxLength: 200 })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiProperty({ description: 'an experience-metrics metric name', example: 'nps', maxLength: 64 })
  @IsString()
  @MaxLength(64)
  metric!: string;

  @ApiPropertyOptional({ type: TargetSliceDto, nullable: true, description: 'absent or null: every customer' })
  @IsOptional()
  @ValidateNested()
  @Type(() => TargetSliceDto)
  slice?: TargetSliceDto | null;

  @ApiProperty({
    enum: TARGET_DIRECTIONS,
    example: 'at-least',
    description: '`at-least`: reach the threshold or more; `at-most`: stay at or under it',
  })
  @IsIn(TARGET_DIRECTIONS as unknown as string[])
  direction!: (typeof TARGET_DIRECTIONS)[number];

  @ApiProperty({ example: 40, minimum: -1e12, maximum: 1e12 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  threshold!: number;

  @ApiPropertyOptional({ enum: TARGET_BUCKETS, default: 'month', description: 'the buckets the trend is read from' })
  @IsOptional()
  @IsIn(TARGET_BUCKETS as unknown as string[])
  bucket?: (typeof TARGET_BUCKETS)[number];

  @ApiProperty({
    description: 'first day of the period (YYYY-MM-DD, reporting time zone)',
    example: '2026-10-01',
    pattern: ISO_DATE.source,
  })
  @Matches(ISO_DATE, { message: 'must be a calendar date YYYY-MM-DD' })
  startDate!: string;

  @ApiProperty({
    description: 'the due date (YYYY-MM-DD), at most 3,660 days after startDate',
    example: '2027-03-31',
    pattern: ISO_DATE.source,
  })
  @Matches(ISO_DATE, { message: 'must be a calendar date YYYY-MM-DD' })
  dueDate!: string;
}

export class CreateTargetDto extends TargetBodyDto {
  @ApiProperty({
    description: 'chosen by the analyst: lower-case letters, digits and "-"',
    example: 'nps-high-2027q1',
    pattern: TARGET_ID.source,
  })
  @Matches(TARGET_ID, { message: 'must be 1 to 64 lower-case letters, digits and "-", starting with a letter or digit' })
  targetId!: string;
}

export class TargetQueryDto extends ConsistencyQueryDto {
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'json', description: '`csv`: the same rows as a CSV file' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS as unknown as string[])
  format?: (typeof EXPORT_FORMATS)[number];
}

export class TargetWrittenDto {
  @ApiProperty({ example: 'nps-high-2027q1' }) targetId!: string;
  @ApiProperty({ example: 1, description: '1 when created, then one more per change' }) version!: number;
  @ApiProperty({ description: 'log position of the event: pass it as minPosition to read your write', example: 1234 }) position!: number;
}

class TargetDefinitionDto extends TargetBodyDto {}

class TargetEvaluationDto {
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) at!: string;
  @ApiProperty({ enum: TARGET_STATUSES }) status!: string;
  @ApiProperty({ example: 'the trend through 5 complete buckets meets the threshold by the due date' }) reason!: string;
  @ApiProperty({ type: 'number', nullable: true, example: 37.5 }) current!: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'start of the bucket `current` is from' }) currentBucket!: string | null;
  @ApiProperty({ type: 'number', nullable: true, description: 'the trend at the end of the due date’s bucket', example: 41.2 })
  projected!: number | null;
  @ApiProperty({ type: 'number', nullable: true, example: 0.8 }) slopePer30Days!: number | null;
  @ApiProperty({ description: 'complete buckets with a value read', example: 5 }) points!: number;
}
class TargetPointDto {
  @ApiProperty() start!: string;
  @ApiProperty() end!: string;
  @ApiProperty({ type: 'number', nullable: true }) value!: number | null;
}
class TargetChangeDto {
  @ApiProperty() version!: number;
  @ApiProperty({ enum: ['created', 'changed'] }) kind!: string;
  @ApiProperty() at!: string;
  @ApiProperty({ description: 'the API key (its id) that made the change' }) changedBy!: string;
  @ApiProperty() position!: number;
  @ApiProperty({ type: TargetDefinitionDto }) target!: TargetDefinitionDto;
}
export class TargetSummaryDto {
  @ApiProperty({ example: 'nps-high-2027q1' }) targetId!: string;
  @ApiProperty() version!: number;
  @ApiProperty({ type: TargetDefinitionDto }) target!: TargetDefinitionDto;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
  @ApiProperty() changedBy!: string;
  @ApiProperty({ type: TargetEvaluationDto }) status!: TargetEvaluationDto;
}
export class TargetListDto {
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) asOf!: string;
  @ApiProperty({ type: [TargetSummaryDto] }) items!: TargetSummaryDto[];
}
export class TargetReportDto extends TargetSummaryDto {
  @ApiProperty({ type: [TargetEvaluationDto], description: 'the status at the end of each complete bucket so far' })
  history!: TargetEvaluationDto[];
  @ApiProperty({ type: [TargetPointDto], description: 'the metric’s buckets from startDate to dueDate' }) series!: TargetPointDto[];
  @ApiProperty({ type: [TargetChangeDto], description: 'every version, oldest first' }) changes!: TargetChangeDto[];
}
