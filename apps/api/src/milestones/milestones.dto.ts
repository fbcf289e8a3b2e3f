import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { VALUE_SEGMENTS } from '@cem/read-models';
import { MILESTONE_GROUPINGS } from '@cem/read-models/milestones';
import { ConsistencyQueryDto } from '../customers/customers.dto';
import { EXPORT_FORMATS } from '../http/csv';

const COHORT = /^\d{4}-(0[1-9]|1[0-2])$/;
/** widest cohort range a query may ask for */
export const MAX_COHORT_MONTHS = 120;

export class MilestoneSliceQueryDto extends ConsistencyQueryDto {
  @ApiPropertyOptional({
    description: 'first cohort (month of the first touch, UTC), inclusive',
    example: '2026-01',
    pattern: COHORT.source,
  })
  @IsOptional()
  @Matches(COHORT, { message: 'must be a month as YYYY-MM' })
  cohortFrom?: string;

  @ApiPropertyOptional({
    description: `last cohort, inclusive; at most ${MAX_COHORT_MONTHS} months after cohortFrom`,
    example: '2026-06',
    pattern: COHORT.source,
  })
  @IsOptional()
  @Matches(COHORT, { message: 'must be a month as YYYY-MM' })
  cohortTo?: string;

  @ApiPropertyOptional({ enum: VALUE_SEGMENTS, description: "the customer's value segment now (customer 360)" })
  @IsOptional()
  @IsIn(VALUE_SEGMENTS as unknown as string[])
  segment?: (typeof VALUE_SEGMENTS)[number];

  @ApiPropertyOptional({ enum: MILESTONE_GROUPINGS, default: 'none', description: 'one line per cohort, per segment, or per both' })
  @IsOptional()
  @IsIn(MILESTONE_GROUPINGS as unknown as string[])
  groupBy?: (typeof MILESTONE_GROUPINGS)[number];

  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'json', description: '`csv`: the same rows as a CSV file' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS as unknown as string[])
  format?: (typeof EXPORT_FORMATS)[number];
}

export class TimeToMilestoneQueryDto extends MilestoneSliceQueryDto {
  @ApiPropertyOptional({ description: 'one milestone id (default: every milestone)', example: 'onboarded', maxLength: 64 })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  milestone?: string;
}

class MilestoneConditionDto {
  @ApiProperty({ example: 'purchase.completed' }) type!: string;
  @ApiPropertyOptional({ type: [String], example: ['phone', 'email'] }) channels?: string[];
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'payload field -> value, {"in": [...]} or bounds {"gte","gt","lte","lt"}',
    example: { nps: { gte: 9 } },
  })
  where?: Record<string, unknown>;
}
class MilestoneDeadlineDto {
  @ApiProperty({ example: 30 }) days!: number;
  @ApiProperty({ example: 'first-touch', description: '`first-touch` or a milestone id' }) from!: string;
}
export class MilestoneDefinitionDto {
  @ApiProperty({ example: 'onboarded' }) id!: string;
  @ApiProperty({ example: 'First purchase within 30 days of the first touch' }) label!: string;
  @ApiProperty({ type: MilestoneConditionDto }) when!: MilestoneConditionDto;
  @ApiPropertyOptional({ type: MilestoneDeadlineDto }) deadline?: MilestoneDeadlineDto;
}
export class DefinitionVersionDto {
  @ApiProperty({ example: 2 }) version!: number;
  @ApiProperty({ description: 'sha-256 of the canonical definitions' }) fingerprint!: string;
  @ApiProperty() active!: boolean;
  @ApiProperty({ type: [MilestoneDefinitionDto] }) milestones!: MilestoneDefinitionDto[];
}
export class DefinitionsDto {
  @ApiProperty({ type: DefinitionVersionDto, nullable: true, description: 'null until the read model has projected its first batch' })
  active!: DefinitionVersionDto | null;
  @ApiProperty({ type: [DefinitionVersionDto] }) history!: DefinitionVersionDto[];
}

class FunnelStepDto {
  @ApiProperty({ example: 'onboarded' }) milestoneId!: string;
  @ApiProperty() label!: string;
  @ApiProperty({ description: 'customers of the group (every customer with a first touch)', example: 1200 }) customers!: number;
  @ApiProperty({ example: 840 }) reached!: number;
  @ApiProperty({ description: 'deadline passed by `asOf` without reaching it', example: 300 }) missed!: number;
  @ApiProperty({ description: 'neither yet', example: 60 }) open!: number;
  @ApiProperty({ type: 'number', nullable: true, description: 'reached / customers', example: 0.7 }) conversion!: number | null;
  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'reached this and the previous milestone / reached the previous one (null for the first step)',
    example: 0.45,
  })
  fromPrevious!: number | null;
}
class FunnelGroupDto {
  @ApiPropertyOptional({ example: '2026-01' }) cohort?: string;
  @ApiPropertyOptional({ enum: [...VALUE_SEGMENTS] }) segment?: string;
  @ApiProperty({ type: [FunnelStepDto] }) steps!: FunnelStepDto[];
}
export class FunnelDto {
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) asOf!: string;
  @ApiProperty({ type: 'integer', nullable: true, example: 1 }) definitionsVersion!: number | null;
  @ApiProperty({ type: [FunnelGroupDto] }) groups!: FunnelGroupDto[];
}

class TimeToMilestoneItemDto {
  @ApiProperty({ example: 'onboarded' }) milestoneId!: string;
  @ApiPropertyOptional({ example: '2026-01' }) cohort?: string;
  @ApiPropertyOptional({ enum: [...VALUE_SEGMENTS] }) segment?: string;
  @ApiProperty({ description: 'customers who reached it', example: 840 }) reached!: number;
  @ApiProperty({ type: 'number', nullable: true, description: 'exact median (nearest rank), days from the first touch', example: 6.25 })
  p50Days!: number | null;
  @ApiProperty({ type: 'number', nullable: true, description: 'exact 90th percentile (nearest rank), days', example: 24.5 })
  p90Days!: number | null;
  @ApiProperty({ type: 'number', nullable: true, example: 9.1 }) meanDays!: number | null;
}
export class TimeToMilestoneDto {
  @ApiProperty({ type: 'integer', nullable: true, example: 1 }) definitionsVersion!: number | null;
  @ApiProperty({ type: [TimeToMilestoneItemDto] }) items!: TimeToMilestoneItemDto[];
}

class CustomerMilestoneDto {
  @ApiProperty({ example: 'onboarded' }) milestoneId!: string;
  @ApiProperty() label!: string;
  @ApiProperty({ enum: ['reached', 'missed', 'open'] }) status!: string;
  @ApiProperty({ type: String, nullable: true, example: '2026-01-12T10:00:00.000Z' }) reachedAt!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'from this instant the milestone is missed unless reached' })
  missedAt!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'the earliest matching touch point, even after the deadline' })
  matchedAt!: string | null;
  @ApiProperty({ type: 'number', nullable: true, example: 4.5 }) daysToReach!: number | null;
}
export class CustomerMilestonesDto {
  @ApiProperty() customerId!: string;
  @ApiProperty({ example: '2026-11-20T09:15:00.000Z' }) asOf!: string;
  @ApiProperty({ type: String, nullable: true }) firstTouchAt!: string | null;
  @ApiProperty({ type: String, nullable: true, example: '2026-01' }) cohort!: string | null;
  @ApiProperty({ type: [CustomerMilestoneDto] }) milestones!: CustomerMilestoneDto[];
}
