import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export const REBUILDS_MAX = 100;
export const REBUILDS_DEFAULT = 20;

export class RebuildListQueryDto {
  @ApiPropertyOptional({
    description: 'most rebuilds to list, newest first',
    type: 'integer',
    minimum: 1,
    maximum: REBUILDS_MAX,
    default: REBUILDS_DEFAULT,
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value))
  @IsInt()
  @Min(1)
  @Max(REBUILDS_MAX)
  limit?: number;
}

const NULLABLE_TEXT = { nullable: true, type: String } as const;

export class RebuildDto {
  @ApiProperty({ example: 'rb_7d9f6467ce' }) id!: string;
  @ApiProperty({ type: [String], description: 'the read models rebuilt', example: ['customer-360'] }) readModels!: string[];
  @ApiProperty({
    enum: ['building', 'verified', 'switched', 'dropped', 'failed'],
    description:
      'building (or interrupted: resumable), verified (ready to switch), switched (old copy kept), dropped, failed (nothing switched)',
  })
  state!: string;
  @ApiProperty({ description: 'starting, projecting, catching-up, verifying, waiting-for-switch, switching or done' }) phase!: string;
  @ApiProperty({ description: 'the shadow copy (a file or schema name)' }) shadowCopy!: string;
  @ApiProperty({ ...NULLABLE_TEXT, description: 'the replaced rows, kept after the switch until dropped' }) oldCopy!: string | null;
  @ApiProperty({ description: 'pid@host of the process working on it' }) owner!: string;
  @ApiProperty({ description: 'refreshed every 2 s while a process works on it; older than 15 s: interrupted' }) heartbeatAt!: string;
  @ApiProperty() startedAt!: string;
  @ApiProperty(NULLABLE_TEXT) finishedAt!: string | null;
  @ApiProperty({ type: 'integer', description: "the shadow's log position (its slowest read model)" }) position!: number;
  @ApiProperty({ type: 'integer', description: 'the head of the log it is catching up to' }) targetPosition!: number;
  @ApiProperty({ type: 'integer', description: 'events projected by the process working on it (each read model projects the whole log)' })
  events!: number;
  @ApiProperty({ type: 'number' }) eventsPerSecond!: number;
  @ApiProperty({ type: 'number', nullable: true, description: 'seconds left, at the current rate' }) etaSeconds!: number | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    nullable: true,
    description: 'read model -> checksum of the verified shadow',
  })
  checksums!: Record<string, string> | null;
  @ApiProperty(NULLABLE_TEXT) message!: string | null;
}

export class RebuildListDto {
  @ApiProperty({ type: [RebuildDto], description: 'newest first' }) rebuilds!: RebuildDto[];
}
