import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { READ_MODELS } from '@cem/read-models';

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
  @ApiProperty({ type: 'integer', description: "the shadow's log position (its slowest read model); while verifying, the scratch copy's" })
  position!: number;
  @ApiProperty({
    type: 'integer',
    description: 'the head of the log it is catching up to; while verifying, the fixed position the shadow is verified at',
  })
  targetPosition!: number;
  @ApiProperty({
    type: 'integer',
    description:
      'events projected by the process working on it, into the shadow and then the scratch copy of its verification (each read model projects the whole log)',
  })
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

/** The read models an admin body may name, or `all`. */
export const READ_MODEL_CHOICES = [...READ_MODELS.map((m) => m.name), 'all'] as const;
const readModelsMessage = `each must be one of ${READ_MODEL_CHOICES.join(', ')}`;
export const REBUILD_ID_PATTERN = /^rb_[0-9a-f]{10}$/;

export class StartRebuildDto {
  @ApiProperty({
    type: [String],
    items: { type: 'string', enum: [...READ_MODEL_CHOICES] },
    minItems: 1,
    maxItems: READ_MODEL_CHOICES.length,
    uniqueItems: true,
    description: 'the read models to rebuild, or ["all"]',
    example: ['customer-360'],
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(READ_MODEL_CHOICES.length)
  @ArrayUnique()
  @IsIn(READ_MODEL_CHOICES as unknown as string[], { each: true, message: readModelsMessage })
  readModels!: string[];

  @ApiPropertyOptional({ description: 'switch once verified (default true); false: stop at waiting-for-switch', default: true })
  @IsOptional()
  @IsBoolean()
  switch?: boolean;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 100_000,
    default: 500,
    description: 'events per batch of the shadow projection (small by default: a batch holds the api process until it is done)',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  batchSize?: number;
}

export class StartReadModelVerificationDto {
  @ApiPropertyOptional({
    type: [String],
    items: { type: 'string', enum: [...READ_MODEL_CHOICES] },
    minItems: 1,
    maxItems: READ_MODEL_CHOICES.length,
    uniqueItems: true,
    description: 'the read models to verify (default: all)',
    example: ['customer-360'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(READ_MODEL_CHOICES.length)
  @ArrayUnique()
  @IsIn(READ_MODEL_CHOICES as unknown as string[], { each: true, message: readModelsMessage })
  readModels?: string[];
}

export const READ_MODEL_VERIFICATION_STATUSES = ['running', 'equal', 'drift', 'failed'] as const;

class ReadModelVerificationProgressDto {
  @ApiProperty({ type: String, nullable: true, description: 'the read model being verified' }) readModel!: string | null;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'read models finished' }) readModelsDone!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: "the scratch copy's position in the read model being rebuilt" })
  position!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: "the live copy's checkpoint it is rebuilt to" }) to!: number;
  @ApiProperty({ minimum: 0, maximum: 1, description: 'over all the read models of the job' }) fraction!: number;
}

export class ReadModelVerdictDto {
  @ApiProperty() readModel!: string;
  @ApiProperty({ enum: ['equal', 'drift', 'not-projected'] }) status!: string;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'the log position both copies were compared at' }) position!: number;
  @ApiProperty({ type: 'integer', nullable: true, description: 'the version the live copy was projected with' }) liveVersion!:
    number | null;
  @ApiProperty({ type: 'integer', description: "this code's version: another liveVersion means rebuild needed" }) codeVersion!: number;
  @ApiProperty({ type: String, nullable: true }) liveChecksum!: string | null;
  @ApiProperty({ type: String, nullable: true }) rebuiltChecksum!: string | null;
  @ApiProperty({ type: 'integer', minimum: 0 }) rows!: number;
  @ApiProperty({ type: [String], description: 'tables whose checksums differ' }) driftTables!: string[];
  @ApiProperty({ type: 'integer', minimum: 0 }) driftCustomerCount!: number;
  @ApiProperty({ type: [String], description: 'customers whose rows differ (the first 1,000; `cem verify --json` lists all)' })
  driftCustomers!: string[];
}

export class ReadModelVerificationJobDto {
  @ApiProperty({ format: 'uuid' }) jobId!: string;
  @ApiProperty({
    enum: READ_MODEL_VERIFICATION_STATUSES,
    description:
      '`equal`: every read model matches a fresh rebuild; `drift`: at least one does not (see verdicts); `failed`: it could not run (`error`)',
  })
  status!: (typeof READ_MODEL_VERIFICATION_STATUSES)[number];
  @ApiProperty({ description: 'name of the API key that started it' }) requestedBy!: string;
  @ApiProperty({ type: [String] }) readModels!: string[];
  @ApiProperty({ format: 'date-time' }) startedAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finishedAt!: string | null;
  @ApiProperty({ type: ReadModelVerificationProgressDto }) progress!: ReadModelVerificationProgressDto;
  @ApiProperty({ type: [ReadModelVerdictDto], nullable: true, description: 'when finished' }) verdicts!: ReadModelVerdictDto[] | null;
  @ApiPropertyOptional({ description: 'when failed: why' }) error?: string;
}

/** The body of a switch or a drop: an empty JSON object (no options yet; unknown fields are refused). */
export class RebuildStepBodyDto {}
