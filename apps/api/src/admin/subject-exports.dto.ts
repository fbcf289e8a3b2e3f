import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

const FREE = { type: 'object', additionalProperties: true } as const;

export class StartSubjectExportDto {
  @ApiPropertyOptional({
    description: 'any identifier of the person as kind:value (exactly one of identifier and customerId)',
    example: 'email:ana@example.com',
    maxLength: 400,
  })
  @IsOptional()
  @IsString()
  @MaxLength(400)
  identifier?: string;

  @ApiPropertyOptional({ description: 'a customer id (a merged-away id leads to its survivor)', format: 'uuid', maxLength: 36 })
  @IsOptional()
  @IsString()
  @MaxLength(36)
  customerId?: string;
}

class SubjectDto {
  @ApiProperty({ format: 'uuid' }) customerId!: string;
  @ApiProperty({ enum: ['identifier', 'customerId'] }) foundBy!: string;
  @ApiPropertyOptional({ format: 'uuid', description: 'the id asked for, when it was merged into customerId' })
  requestedCustomerId?: string;
  @ApiProperty({ type: [String], description: 'customers merged into it' }) mergedIds!: string[];
}

class SubjectIdentifierDto {
  @ApiProperty() kind!: string;
  @ApiProperty() value!: string;
  @ApiProperty() firstSeenAt!: string;
  @ApiProperty() lastSeenAt!: string;
  @ApiProperty({ description: 'the identity registry still resolves it to this person' }) resolvesToSubject!: boolean;
}

class ConsentChangeDto {
  @ApiProperty() purpose!: string;
  @ApiProperty() granted!: boolean;
  @ApiProperty({ type: String, nullable: true }) occurredAt!: string | null;
  @ApiProperty({ type: String, nullable: true }) source!: string | null;
}

class SubjectConsentsDto {
  @ApiProperty({ type: 'object', additionalProperties: { type: 'boolean' }, description: 'purpose -> granted, the latest by event time' })
  current!: Record<string, boolean>;
  @ApiProperty({ type: [ConsentChangeDto] }) history!: ConsentChangeDto[];
}

class MergeHistoryEntryDto {
  @ApiProperty({ enum: ['customers.merged', 'customer.merged-into', 'customers.unmerged'] }) type!: string;
  @ApiProperty({ type: 'integer' }) position!: number;
  @ApiProperty() recordedAt!: string;
  @ApiProperty(FREE) data!: Record<string, unknown>;
}

class SubjectMilestoneDto {
  @ApiProperty() milestoneId!: string;
  @ApiProperty({ enum: ['reached', 'missed'] }) outcome!: string;
  @ApiProperty() at!: string;
}

class SubjectViewsDto {
  @ApiProperty({ ...FREE, nullable: true, description: 'the customer 360 view' }) customer360!: Record<string, unknown> | null;
  @ApiProperty({ ...FREE, nullable: true, description: 'the churn-risk score, null before a touch point' }) churnRisk!: Record<
    string,
    unknown
  > | null;
  @ApiProperty({ type: 'array', items: FREE, description: 'the segments it is in' }) segments!: Record<string, unknown>[];
  @ApiProperty({ type: [SubjectMilestoneDto] }) milestones!: SubjectMilestoneDto[];
}

class SubjectEventDto {
  @ApiProperty() eventId!: string;
  @ApiProperty({ type: 'integer' }) position!: number;
  @ApiProperty() type!: string;
  @ApiProperty({ type: String, nullable: true }) occurredAt!: string | null;
  @ApiProperty() recordedAt!: string;
  @ApiProperty({ type: String, nullable: true }) source!: string | null;
  @ApiProperty({ type: String, nullable: true }) channel!: string | null;
  @ApiProperty({ description: 'the customer stream holding it' }) customerId!: string;
  @ApiProperty({ type: 'array', items: { type: 'object', properties: { kind: { type: 'string' }, value: { type: 'string' } } } })
  identifiers!: { kind: string; value: string }[];
  @ApiProperty({ description: 'the payload, decrypted (erased personal values are absent)' }) data!: unknown;
  @ApiPropertyOptional() agentId?: string;
  @ApiPropertyOptional() correlationId?: string;
  @ApiPropertyOptional() causationId?: string;
  @ApiPropertyOptional({ enum: [true] }) personalDataErased?: boolean;
}

/** The data-subject export (docs/privacy.md). */
export class SubjectExportDto {
  @ApiProperty({ format: 'date-time' }) exportedAt!: string;
  @ApiProperty({ type: 'integer', description: 'the log head when it was read' }) logHead!: number;
  @ApiProperty({ type: SubjectDto }) subject!: SubjectDto;
  @ApiProperty({ ...FREE, nullable: true, description: 'null, or the erasure certificate (what was erased, when, why, by whom)' })
  erasure!: Record<string, unknown> | null;
  @ApiProperty(FREE) profile!: Record<string, unknown>;
  @ApiProperty({ type: [SubjectIdentifierDto] }) identifiers!: SubjectIdentifierDto[];
  @ApiProperty({ type: SubjectConsentsDto }) consents!: SubjectConsentsDto;
  @ApiProperty({ type: [MergeHistoryEntryDto] }) mergeHistory!: MergeHistoryEntryDto[];
  @ApiProperty({ type: SubjectViewsDto }) views!: SubjectViewsDto;
  @ApiProperty({ type: [SubjectEventDto], description: 'every event of the person, in log order' }) events!: SubjectEventDto[];
}
