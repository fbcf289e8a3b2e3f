import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { CONSENT_PURPOSE, MAX_SEGMENT_DESCRIPTION, MAX_SEGMENT_NAME, SEGMENT_ID } from '@cem/domain';
import { ConsistencyQueryDto, IntegerQuery } from '../customers/customers.dto';
import { EXPORT_FORMATS } from '../http/csv';

const RULE_SCHEMA = {
  type: 'object',
  additionalProperties: true,
  description:
    'the rule (docs/segments.md): `{"all": [...]}`, `{"any": [...]}`, `{"not": rule}`, `{"fact": "netValue", "op": ">", "value": 1000}` or `{"count": "contact.handled", "where": {"reason": "billing"}, "within": "P30D", "op": ">=", "value": 3}`',
  example: {
    all: [
      { fact: 'npsCategory', op: '=', value: 'promoter' },
      { fact: 'churnBand', op: '>=', value: 'high' },
    ],
  },
} as const;

/** A segment's definition as sent to PUT /v1/segments/{segmentId} (and, with segmentId, to POST /v1/segments). */
export class SegmentBodyDto {
  @ApiProperty({ example: 'At-risk promoters', minLength: 1, maxLength: MAX_SEGMENT_NAME })
  name!: string;

  @ApiPropertyOptional({ example: 'Promoters whose churn band is high or critical', maxLength: MAX_SEGMENT_DESCRIPTION, default: '' })
  description?: string;

  @ApiProperty(RULE_SCHEMA)
  rule!: Record<string, unknown>;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    pattern: CONSENT_PURPOSE.source,
    example: 'marketing-email',
    description:
      'the consent purpose the segment is used for: members without it are counted but not exported nor signalled; a purpose some consent.changed carried, or a standard one (docs/segments.md). Absent or null: none needed',
  })
  consentPurpose?: string | null;
}

export class CreateSegmentDto extends SegmentBodyDto {
  @ApiProperty({
    description: 'chosen by the analyst: lower-case letters, digits and "-"',
    example: 'at-risk-promoters',
    pattern: SEGMENT_ID.source,
  })
  segmentId!: string;
}

export class SegmentDryRunBodyDto {
  @ApiProperty(RULE_SCHEMA)
  rule!: Record<string, unknown>;

  @ApiPropertyOptional({ type: String, nullable: true, pattern: CONSENT_PURPOSE.source, example: 'marketing-email' })
  consentPurpose?: string | null;
}

export class SegmentWrittenDto {
  @ApiProperty({ example: 'at-risk-promoters' }) segmentId!: string;
  @ApiProperty({ example: 1, description: '1 when created, then one more per change or archiving' }) version!: number;
  @ApiProperty({ description: 'log position of the event: pass it as minPosition to read your write', example: 1234 }) position!: number;
}

class SegmentDefinitionDto {
  @ApiProperty() name!: string;
  @ApiProperty() description!: string;
  @ApiProperty(RULE_SCHEMA) rule!: Record<string, unknown>;
  @ApiProperty({ type: String, nullable: true }) consentPurpose!: string | null;
}

class SegmentEvaluationDto {
  @ApiProperty({ example: 2, description: 'the definition version evaluated' }) version!: number;
  @ApiProperty({
    enum: ['evaluating', 'announcing', 'done'],
    description:
      '`evaluating`: walking the customers; `announcing`: appending the entries and exits found; `done`: membership follows the rule',
  })
  state!: string;
  @ApiProperty({ description: 'customers evaluated so far', example: 4000 }) evaluated!: number;
  @ApiProperty({ description: 'live customers to evaluate', example: 10000 }) total!: number;
  @ApiProperty({ description: 'entries and exits found, not yet in the log', example: 0 }) pending!: number;
  @ApiProperty({ description: 'the instant the rule was evaluated at' }) asOf!: string;
}

class SegmentTrendPointDto {
  @ApiProperty({ example: '2026-11-20', description: 'UTC day' }) day!: string;
  @ApiProperty({ example: 412, description: 'members at the end of the day' }) size!: number;
}

export class SegmentSummaryDto {
  @ApiProperty({ example: 'at-risk-promoters' }) segmentId!: string;
  @ApiProperty() version!: number;
  @ApiProperty({ enum: ['active', 'archived'] }) status!: string;
  @ApiProperty({ type: SegmentDefinitionDto }) segment!: SegmentDefinitionDto;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
  @ApiProperty({ description: 'the name of the API key of the latest change' }) changedBy!: string;
  @ApiProperty({ description: 'members now', example: 412 }) size!: number;
  @ApiProperty({ description: 'members without the consent purpose: counted, not exported nor signalled', example: 37 }) heldBack!: number;
  @ApiProperty({ description: 'members that may be exported and signalled (size - heldBack)', example: 375 }) activatable!: number;
  @ApiProperty({
    type: SegmentEvaluationDto,
    nullable: true,
    description: 'the background evaluation in this process; null when it has not run here yet (or runs in the projector process)',
  })
  evaluation!: SegmentEvaluationDto | null;
  @ApiProperty({ type: [SegmentTrendPointDto], description: 'size at the end of each of the last `trendDays` UTC days, oldest first' })
  trend!: SegmentTrendPointDto[];
}

export class SegmentListDto {
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) asOf!: string;
  @ApiProperty({ type: [SegmentSummaryDto] }) items!: SegmentSummaryDto[];
}

class SegmentChangeDto {
  @ApiProperty() version!: number;
  @ApiProperty({ enum: ['created', 'changed', 'archived'] }) kind!: string;
  @ApiProperty() at!: string;
  @ApiProperty({ description: 'the name of the API key that made the change' }) changedBy!: string;
  @ApiProperty() position!: number;
  @ApiProperty({ type: SegmentDefinitionDto, nullable: true, description: 'null for an archiving' }) segment!: SegmentDefinitionDto | null;
}

export class SegmentReportDto extends SegmentSummaryDto {
  @ApiProperty({ type: [SegmentChangeDto], description: 'every version, oldest first' }) changes!: SegmentChangeDto[];
}

class SegmentMemberDto {
  @ApiProperty() customerId!: string;
  @ApiProperty({ description: 'when the customer entered' }) since!: string;
  @ApiProperty({ description: 'the definition version it entered (or last changed) under' }) version!: number;
}

export class SegmentMembersDto {
  @ApiProperty({ example: 'at-risk-promoters' }) segmentId!: string;
  @ApiProperty({ description: 'members now' }) size!: number;
  @ApiProperty({ description: 'members without the consent purpose: not listed here, nor exported' }) heldBack!: number;
  @ApiProperty({ type: [SegmentMemberDto], description: 'members holding the consent purpose, by customer id' }) items!: SegmentMemberDto[];
  @ApiPropertyOptional({ description: 'pass as cursor for the next page; absent on the last page' }) nextCursor?: string;
}

export class SegmentDryRunDto {
  @ApiProperty({ description: 'the instant the rule was evaluated at' }) asOf!: string;
  @ApiProperty({ description: 'live customers evaluated' }) evaluated!: number;
  @ApiProperty({ description: 'customers the rule matches' }) matched!: number;
  @ApiProperty({ description: 'of them, without the consent purpose' }) heldBack!: number;
  @ApiProperty({ type: [String], description: 'up to 10 matched customer ids, by id' }) examples!: string[];
}

export class SegmentQueryDto extends ConsistencyQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 366, default: 30, description: 'days of the size trend' })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  @Max(366)
  trendDays?: number;
}

export class SegmentMembersQueryDto extends ConsistencyQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'members per page (JSON)' })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  cursor?: string;

  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'json', description: '`csv`: every exportable member as a CSV file (no paging)' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS as unknown as string[])
  format?: (typeof EXPORT_FORMATS)[number];
}
