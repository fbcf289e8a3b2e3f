import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { AS_OF_BASES, CUSTOMER_SORTS, LIFECYCLE_STAGES, NPS_CATEGORIES, VALUE_SEGMENTS, type AsOfBasis } from '@cem/read-models';
import { CASE_WORK_STATUSES, ISO_INSTANT } from '@cem/domain';
import { IsoInstant } from '@cem/ingestion';

/** OpenAPI shape of an instant parameter: what IsoInstant accepts, so a fuzzer generates valid ones. */
export const INSTANT = { type: 'string', format: 'date-time', pattern: ISO_INSTANT.source } as const;
/** OpenAPI shape of an identifier parameter (`kind:value`; the value's rules are per kind). */
const IDENTIFIER = { type: 'string', pattern: '^(email|phone|crm|account|cookie|device|external):[^\\s].{0,264}$' } as const;

/**
 * An integer query parameter: only a string of digits becomes a number. `Type(() => Number)` would turn
 * `?minPosition=` (empty) into 0 and accept it; anything else stays a string so IsInt refuses it by name.
 */
export const IntegerQuery = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value));

/** Query parameters every read accepts. */
export class ConsistencyQueryDto {
  @ApiPropertyOptional({
    description:
      'read-your-writes: wait (up to 5 s) until the projections have handled this log position, e.g. the `position` an ingest call returned',
    example: 1234,
    type: 'integer',
    minimum: 0,
  })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(0)
  minPosition?: number;

  @ApiPropertyOptional({
    description: 'evaluate time-dependent facts (lifecycle stage, case ages) at this instant; default now',
    example: '2026-11-20T09:15:00Z',
    ...INSTANT,
  })
  @IsOptional()
  @IsoInstant()
  at?: string;
}

/** GET /v1/customers/{id}: the live view, or an as-of view computed from the log (docs/operations.md, "As-of views"). */
export class CustomerQueryDto extends ConsistencyQueryDto {
  @ApiPropertyOptional({
    description:
      'the view as it was at this past instant, computed from the log (not the read model); stage and case ages are evaluated at it. ' +
      'Not with `at`; not in the future',
    example: '2026-11-20T09:15:00Z',
    ...INSTANT,
  })
  @IsOptional()
  @IsoInstant()
  asOf?: string;

  @ApiPropertyOptional({
    enum: AS_OF_BASES,
    default: 'occurred',
    description:
      'with asOf: `occurred` = every event that happened by asOf, recorded before or after it; `recorded` = what the platform had recorded by asOf',
  })
  @IsOptional()
  @IsIn(AS_OF_BASES as unknown as string[])
  by?: AsOfBasis;
}

export class LookupQueryDto extends ConsistencyQueryDto {
  @ApiProperty({
    description: 'an identifier as `kind:value`, normalised like ingested ones',
    example: 'email:ana@example.com',
    ...IDENTIFIER,
  })
  @IsString()
  identifier!: string;
}

export class TimelineQueryDto extends ConsistencyQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  cursor?: string;

  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'asc', description: 'by occurredAt' })
  @IsOptional()
  @IsIn(['asc', 'desc'])
  order?: 'asc' | 'desc';
}

export class SearchQueryDto extends ConsistencyQueryDto {
  @ApiPropertyOptional({ enum: VALUE_SEGMENTS })
  @IsOptional()
  @IsIn(VALUE_SEGMENTS as unknown as string[])
  segment?: (typeof VALUE_SEGMENTS)[number];

  @ApiPropertyOptional({ enum: LIFECYCLE_STAGES })
  @IsOptional()
  @IsIn(LIFECYCLE_STAGES as unknown as string[])
  stage?: (typeof LIFECYCLE_STAGES)[number];

  @ApiPropertyOptional({ enum: NPS_CATEGORIES })
  @IsOptional()
  @IsIn(NPS_CATEGORIES as unknown as string[])
  npsCategory?: (typeof NPS_CATEGORIES)[number];

  @ApiPropertyOptional({ description: 'last seen at or after this instant', ...INSTANT })
  @IsOptional()
  @IsoInstant()
  lastSeenFrom?: string;

  @ApiPropertyOptional({ description: 'last seen before this instant', ...INSTANT })
  @IsOptional()
  @IsoInstant()
  lastSeenTo?: string;

  @ApiPropertyOptional({
    description: 'only the customer holding this identifier (`kind:value`)',
    example: 'email:ana@example.com',
    ...IDENTIFIER,
  })
  @IsOptional()
  @IsString()
  identifier?: string;

  @ApiPropertyOptional({ enum: CUSTOMER_SORTS, default: '-lastSeenAt', description: '`-` sorts descending' })
  @IsOptional()
  @IsIn(CUSTOMER_SORTS as unknown as string[])
  sort?: (typeof CUSTOMER_SORTS)[number];

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page (same filters and sort)' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  cursor?: string;
}

class ScoreDto {
  @ApiProperty() score!: number;
  @ApiProperty() at!: string;
}
class NpsScoreDto extends ScoreDto {
  @ApiProperty({ enum: NPS_CATEGORIES }) category!: string;
}
class ScoresDto {
  @ApiProperty({ type: NpsScoreDto, nullable: true }) nps!: NpsScoreDto | null;
  @ApiProperty({ type: ScoreDto, nullable: true }) csat!: ScoreDto | null;
  @ApiProperty({ type: ScoreDto, nullable: true }) ces!: ScoreDto | null;
}
class MoneyDto {
  @ApiProperty({ example: 'EUR' }) currency!: string;
  @ApiProperty() purchased!: number;
  @ApiProperty() refunded!: number;
  @ApiProperty({ description: 'purchased - refunded' }) net!: number;
}
class OpenCaseDto {
  @ApiProperty() caseId!: string;
  @ApiProperty() openedAt!: string;
  @ApiProperty({ description: 'whole days open at `asOf`' }) ageDays!: number;
  @ApiPropertyOptional() category?: string;
  @ApiPropertyOptional() priority?: string;
  @ApiPropertyOptional({ description: 'the latest case.assigned' }) assignee?: string;
  @ApiPropertyOptional({ description: 'the latest case.assigned' }) team?: string;
  @ApiPropertyOptional({ enum: CASE_WORK_STATUSES, description: 'the latest case.status-changed, while it is the latest status event' })
  workStatus?: string;
  @ApiProperty() escalations!: number;
  @ApiProperty() reopens!: number;
}
class SubscriptionDto {
  @ApiProperty() subscriptionId!: string;
  @ApiPropertyOptional() plan?: string;
  @ApiProperty({ enum: ['active', 'cancelled'] }) status!: string;
  @ApiPropertyOptional() startedAt?: string;
  @ApiProperty() statusAt!: string;
  @ApiPropertyOptional() monthlyAmount?: number;
  @ApiPropertyOptional() currency?: string;
}
class ComplaintsDto {
  @ApiProperty() count!: number;
  @ApiProperty({ nullable: true, type: String }) lastAt!: string | null;
}
const COUNTS = { type: 'object', additionalProperties: { type: 'integer' } } as const;

/** One factor of a churn score (the churn-risk API's factors extend it with the raw value). */
export class ChurnTopFactorDto {
  @ApiProperty({ example: 'recency_ratio' }) name!: string;
  @ApiProperty({ description: 'its share of the log-odds', example: 0.84 }) contribution!: number;
  @ApiProperty({ example: 'no purchase for 94 days; usual gap 21 days' }) reason!: string;
}

export class ChurnRiskSummaryDto {
  @ApiProperty({ description: 'probability of churning within the model horizon' }) probability!: number;
  @ApiProperty({ enum: ['low', 'medium', 'high', 'critical'] }) band!: string;
  @ApiProperty() logOdds!: number;
  @ApiProperty({ type: 'object', properties: { name: { type: 'string' }, version: { type: 'integer' } } }) model!: {
    name: string;
    version: number;
  };
  @ApiProperty({ type: [ChurnTopFactorDto], description: 'up to three largest pushes towards churn' }) topFactors!: ChurnTopFactorDto[];
}

/** One segment a customer is in (the customer 360's `segments`). */
export class CustomerSegmentDto {
  @ApiProperty({ example: 'at-risk-promoters' }) segmentId!: string;
  @ApiProperty({ example: 'At-risk promoters' }) name!: string;
  @ApiProperty({ description: 'when the customer entered' }) since!: string;
  @ApiProperty({ description: "holds the segment's consent purpose (always true when it names none)" }) consent!: boolean;
}

export class Customer360Dto {
  @ApiProperty() customerId!: string;
  @ApiProperty({ description: 'the instant stage and case ages were evaluated at' }) asOf!: string;
  @ApiProperty({ description: 'last log position reflected in this view' }) position!: number;
  @ApiProperty({ enum: LIFECYCLE_STAGES, description: 'rules: libs/read-models/src/customer-360/lifecycle.ts' }) lifecycleStage!: string;
  @ApiProperty({ enum: VALUE_SEGMENTS }) valueSegment!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string' } },
    example: { email: ['ana@example.com'] },
  })
  identifiers!: Record<string, string[]>;
  @ApiProperty({ nullable: true, type: String }) registeredAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'earliest occurredAt of a touch point' }) firstSeenAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'latest occurredAt of a touch point (late events never move it back)' })
  lastSeenAt!: string | null;
  @ApiProperty() eventCount!: number;
  @ApiProperty({ ...COUNTS, description: 'touch points by channel' }) channels!: Record<string, number>;
  @ApiProperty({ ...COUNTS, description: 'touch points by type' }) types!: Record<string, number>;
  @ApiProperty({ type: [MoneyDto], description: 'lifetime value per currency' }) lifetimeValue!: MoneyDto[];
  @ApiProperty() purchases!: number;
  @ApiProperty() refunds!: number;
  @ApiProperty() cancelledOrders!: number;
  @ApiProperty({ nullable: true, type: String }) lastPurchaseAt!: string | null;
  @ApiProperty({ type: ScoresDto, description: 'latest answer of each scale, by occurredAt' }) scores!: ScoresDto;
  @ApiProperty({ type: [OpenCaseDto] }) openCases!: OpenCaseDto[];
  @ApiProperty({ type: ComplaintsDto }) complaints!: ComplaintsDto;
  @ApiProperty({ type: [SubscriptionDto] }) subscriptions!: SubscriptionDto[];
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'object', properties: { granted: { type: 'boolean' }, at: { type: 'string' } } },
  })
  consents!: Record<string, { granted: boolean; at: string }>;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'latest profile attributes (personal data)' }) profile!: Record<
    string,
    unknown
  >;
  @ApiProperty({
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    description: 'customers absorbed by merges, with evidence rule',
  })
  merges!: unknown[];
  @ApiProperty({
    type: ChurnRiskSummaryDto,
    nullable: true,
    description: 'churn risk at asOf (docs/churn-risk.md); null without a touch point',
  })
  churnRisk!: ChurnRiskSummaryDto | null;
  @ApiProperty({
    type: [CustomerSegmentDto],
    description: 'the analyst-defined segments the customer is in (as of asOf in an as-of view), by segment id (docs/segments.md)',
  })
  segments!: CustomerSegmentDto[];
}

export class CustomerSummaryDto {
  @ApiProperty() customerId!: string;
  @ApiProperty({ enum: LIFECYCLE_STAGES }) lifecycleStage!: string;
  @ApiProperty({ enum: VALUE_SEGMENTS }) valueSegment!: string;
  @ApiProperty({ nullable: true, type: String }) firstSeenAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) lastSeenAt!: string | null;
  @ApiProperty() eventCount!: number;
  @ApiProperty() netValue!: number;
  @ApiProperty({ nullable: true, type: Number }) nps!: number | null;
  @ApiProperty({ nullable: true, enum: NPS_CATEGORIES }) npsCategory!: string | null;
  @ApiProperty() openCases!: number;
}

export class CustomerPageDto {
  @ApiProperty({ type: [CustomerSummaryDto] }) items!: CustomerSummaryDto[];
  @ApiPropertyOptional({ description: 'absent on the last page' }) nextCursor?: string;
}

class TimelineEntryDto {
  @ApiProperty() position!: number;
  @ApiProperty() eventId!: string;
  @ApiProperty() type!: string;
  @ApiProperty() occurredAt!: string;
  @ApiProperty({ nullable: true, type: String }) channel!: string | null;
  @ApiProperty() source!: string;
  @ApiProperty({ nullable: true, type: String }) agentId!: string | null;
  @ApiProperty({ nullable: true, type: String }) correlationId!: string | null;
  @ApiProperty({ description: 'the customer whose stream recorded it (differs after a merge)' }) streamCustomerId!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) data!: unknown;
}

export class TimelinePageDto {
  @ApiProperty({ type: [TimelineEntryDto] }) items!: TimelineEntryDto[];
  @ApiPropertyOptional({ description: 'absent on the last page' }) nextCursor?: string;
}

export class MergedPointerDto {
  @ApiProperty() statusCode!: number;
  @ApiProperty({ example: 'merged' }) error!: string;
  @ApiProperty() message!: string;
  @ApiProperty() customerId!: string;
  @ApiProperty({ description: "the live customer that holds this one's history now" }) mergedInto!: string;
  @ApiProperty({ example: '/v1/customers/2f0c...' }) location!: string;
}
