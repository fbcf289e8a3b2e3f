import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** Most events one page of an audit trail carries; `after` pages on. */
export const AUDIT_PAGE_MAX = 1000;
export const AUDIT_PAGE_DEFAULT = 500;

const IntegerQuery = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value));

export class AuditTrailQueryDto {
  @ApiPropertyOptional({
    description: 'only events after this log position: the nextAfter of the previous page',
    type: 'integer',
    minimum: 0,
  })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(0)
  after?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: AUDIT_PAGE_MAX, default: AUDIT_PAGE_DEFAULT })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  @Max(AUDIT_PAGE_MAX)
  limit?: number;
}

const NULLABLE_TEXT = { nullable: true, type: String } as const;

class AuditEntryDto {
  @ApiProperty({ description: 'position in the global log: the order the platform recorded events in' }) position!: number;
  @ApiProperty() eventId!: string;
  @ApiProperty({ example: 'purchase.completed' }) type!: string;
  @ApiProperty({ nullable: true, type: Number }) schemaVersion!: number | null;
  @ApiProperty({ ...NULLABLE_TEXT, description: 'when it happened' }) occurredAt!: string | null;
  @ApiProperty({ description: 'when the event store recorded it' }) recordedAt!: string;
  @ApiProperty({ ...NULLABLE_TEXT, description: 'the integration (or `platform` part) that wrote it' }) source!: string | null;
  @ApiProperty(NULLABLE_TEXT) channel!: string | null;
  @ApiProperty(NULLABLE_TEXT) agentId!: string | null;
  @ApiProperty(NULLABLE_TEXT) correlationId!: string | null;
  @ApiProperty(NULLABLE_TEXT) causationId!: string | null;
  @ApiProperty() streamId!: string;
  @ApiProperty({ description: '0-based position within its stream' }) revision!: number;
  @ApiProperty({ ...NULLABLE_TEXT, description: 'the customer whose stream holds it (a merged-in customer, or the audited one)' })
  streamCustomerId!: string | null;
  @ApiProperty({
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    description: 'identifiers it named (personal data)',
  })
  identifiers!: unknown[];
  @ApiProperty({
    description: 'the payload as stored (personal data included)',
    nullable: true,
    type: 'object',
    additionalProperties: true,
  })
  data!: unknown;
}

export class AuditTrailDto {
  @ApiProperty() customerId!: string;
  @ApiProperty({ type: [String], description: 'customers merged into this one, whose streams the trail includes' }) mergedIds!: string[];
  @ApiProperty() generatedAt!: string;
  @ApiProperty({ description: 'position of the last event of the whole log when the trail was read' }) headPosition!: number;
  @ApiProperty({ description: "the customer's events in all" }) total!: number;
  @ApiProperty({ type: [AuditEntryDto], description: 'in log position order' }) events!: AuditEntryDto[];
  @ApiPropertyOptional({ description: 'pass as `after` for the next page; absent on the last page' }) nextAfter?: number;
}
