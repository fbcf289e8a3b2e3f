import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { MAX_UNMERGE_REASON } from '@cem/domain';
import { MAX_UNMERGE_IDENTIFIERS, MAX_UNMERGE_SPLITS } from '@cem/platform';

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export class UnmergeSplitDto {
  @ApiProperty({ description: 'a customer merged into this one, to split off', format: 'uuid', pattern: UUID_PATTERN })
  customerId!: string;

  @ApiPropertyOptional({
    description: 'the identifiers it takes back, as kind:value (default: every identifier it brought to the merge)',
    type: [String],
    maxItems: MAX_UNMERGE_IDENTIFIERS,
    example: ['email:ana@example.com'],
  })
  identifiers?: string[];
}

export class UnmergeBodyDto {
  @ApiProperty({ type: [UnmergeSplitDto], minItems: 1, maxItems: MAX_UNMERGE_SPLITS })
  split!: UnmergeSplitDto[];

  @ApiProperty({ description: 'why (a case reference; no personal data)', minLength: 1, maxLength: MAX_UNMERGE_REASON })
  reason!: string;
}

class RequestedByDto {
  @ApiProperty({ enum: ['os-user', 'named', 'api-key'] }) kind!: string;
  @ApiProperty() name!: string;
}

export class UnmergedCustomerDto {
  @ApiProperty({ format: 'uuid' }) survivorId!: string;
  @ApiProperty({ format: 'uuid', description: 'the customer split off, live again' }) splitId!: string;
  @ApiProperty({ type: [String], description: 'customers merged into the split customer before: they follow it again' })
  restoredIds!: string[];
  @ApiProperty({ format: 'uuid', description: 'the customers.merged event undone' }) mergeId!: string;
  @ApiProperty({ type: 'integer', description: 'log position of the merge undone' }) mergePosition!: number;
  @ApiProperty({
    type: [String],
    description:
      "events of the survivor's stream after the merge that are the split customer's (they carried only identifiers moved to it)",
  })
  reattributedEventIds!: string[];
  @ApiProperty({ type: 'integer', description: 'identifiers moved to the split customer (their values are not echoed)' })
  identifierCount!: number;
  @ApiProperty({ type: RequestedByDto }) requestedBy!: RequestedByDto;
  @ApiProperty() reason!: string;
  @ApiProperty({ format: 'date-time' }) unmergedAt!: string;
  @ApiProperty({ format: 'uuid', description: 'the customers.unmerged event' }) eventId!: string;
  @ApiProperty({ type: 'integer', description: 'its log position: pass it as minPosition to read your write' }) position!: number;
}

export class UnmergeResultDto {
  @ApiProperty({ format: 'uuid' }) survivorId!: string;
  @ApiProperty({ type: [UnmergedCustomerDto] }) unmerged!: UnmergedCustomerDto[];
}

export const CONFLICTS_MAX = 500;

export class IdentityConflictQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0, description: 'conflicts to skip, oldest first' })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value))
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  offset?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: CONFLICTS_MAX, default: 100 })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value))
  @IsInt()
  @Min(1)
  @Max(CONFLICTS_MAX)
  limit?: number;
}

export class IdentityConflictDto {
  @ApiProperty({ description: 'the event whose identifiers led to customers an unmerge keeps apart' }) triggeringEventId!: string;
  @ApiProperty({ type: [String], description: 'those customers; the event was recorded on the first (earliest registered)' })
  customerIds!: string[];
  @ApiProperty({ format: 'date-time' }) occurredAt!: string;
  @ApiProperty() source!: string;
  @ApiProperty({ format: 'date-time' }) recordedAt!: string;
}

export class IdentityConflictListDto {
  @ApiProperty({ type: [IdentityConflictDto] }) conflicts!: IdentityConflictDto[];
}
