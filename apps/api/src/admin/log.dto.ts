import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import { IsoInstant } from '@cem/ingestion';
import { INSTANT, IntegerQuery } from '../customers/customers.dto';

const HASH = {
  type: 'string',
  pattern: '^[0-9a-f]{64}$',
  example: '671a5470eee53751d56ff8c36683916c411948c1475727e427f636dd73bd04e0',
} as const;
export const ANCHOR_PATTERN = /^(\d{1,15}):([0-9a-f]{64})$/;

export class LogHeadDto {
  @ApiProperty({ description: 'link number: how many events the chain covers', example: 4894, type: 'integer', minimum: 0 }) seq!: number;
  @ApiProperty({ description: 'log position of the event of that link (0 for an empty log)', example: 4894, type: 'integer', minimum: 0 })
  position!: number;
  @ApiProperty({ description: 'the link hash (SHA-256, hex)', ...HASH }) hash!: string;
  @ApiProperty({
    description: '`<seq>:<hash>`: what to keep outside the platform; verify-log checks it later (expectHead)',
    example: '4894:671a5470eee53751d56ff8c36683916c411948c1475727e427f636dd73bd04e0',
    pattern: ANCHOR_PATTERN.source,
  })
  anchor!: string;
  @ApiProperty({
    description: 'true on EventStoreDB: the last sealed link (`cem log seal`); false on the embedded store, where every append is chained',
  })
  sealed!: boolean;
}

export class StartLogVerificationDto {
  @ApiPropertyOptional({
    description: 'an anchor printed earlier (GET /v1/admin/log/head, `cem log head`): the log must still hold that link with that hash',
    example: '4894:671a5470eee53751d56ff8c36683916c411948c1475727e427f636dd73bd04e0',
    pattern: ANCHOR_PATTERN.source,
    maxLength: 80,
  })
  @IsOptional()
  @IsString()
  @Matches(ANCHOR_PATTERN, { message: 'expectHead must be <seq>:<64 lower-case hex digits>, as GET /v1/admin/log/head prints it' })
  expectHead?: string;
}

export const VERIFICATION_STATUSES = ['running', 'verified', 'not-verified', 'failed'] as const;

class LogVerificationProgressDto {
  @ApiProperty({ type: 'integer', minimum: 0 }) eventsChecked!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'log position reached' }) position!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'log head position when the verification started' }) headPosition!: number;
  @ApiProperty({ minimum: 0, maximum: 1, description: 'position / headPosition' }) fraction!: number;
  @ApiProperty({ type: 'integer', minimum: 0 }) eventsPerSecond!: number;
  @ApiProperty({ type: 'integer', nullable: true, description: 'seconds to go at the current rate; null before the first page' })
  etaSeconds!: number | null;
}

class ChainLinkDto {
  @ApiProperty({ type: 'integer', minimum: 0 }) seq!: number;
  @ApiProperty({ type: 'integer', minimum: 0 }) position!: number;
  @ApiProperty(HASH) hash!: string;
}

export class LogVerificationJobDto {
  @ApiProperty({ format: 'uuid' }) jobId!: string;
  @ApiProperty({
    enum: VERIFICATION_STATUSES,
    description:
      '`verified`: the chain holds (and the anchor, if given); `not-verified`: the first altered, missing or inserted event is in `problem`; ' +
      '`failed`: the verification could not run to its end (`error`)',
  })
  status!: (typeof VERIFICATION_STATUSES)[number];
  @ApiProperty({ description: 'name of the API key that started it' }) requestedBy!: string;
  @ApiProperty({ type: String, nullable: true }) expectHead!: string | null;
  @ApiProperty({ format: 'date-time' }) startedAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finishedAt!: string | null;
  @ApiProperty({ type: LogVerificationProgressDto }) progress!: LogVerificationProgressDto;
  @ApiPropertyOptional({ type: ChainLinkDto, description: 'when verified: the head the chain was checked up to' }) head?: ChainLinkDto;
  @ApiPropertyOptional({ type: ChainLinkDto, description: 'when not verified: the last link that did verify' }) verifiedUpTo?: ChainLinkDto;
  @ApiPropertyOptional({
    description: 'when not verified: the first problem, with its position',
    example: 'event #29 at position 29 does not match its stored hash: its stored bytes were changed',
  })
  problem?: string;
  @ApiPropertyOptional({ type: 'integer', minimum: 0, description: 'EventStoreDB: events after the last seal, not chained yet' })
  unsealed?: number;
  @ApiPropertyOptional({ description: 'when failed: why' }) error?: string;
}

/**
 * GET /v1/admin/log/events: a range of the log by position (both ends inclusive) or by recorded time
 * (from inclusive, to exclusive); without an end, up to the head when the replay starts.
 */
export class LogReplayQueryDto {
  @ApiPropertyOptional({ description: 'first position (inclusive); give this or fromTime', type: 'integer', minimum: 1, example: 1 })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  fromPosition?: number;

  @ApiPropertyOptional({ description: 'last position (inclusive); with fromPosition; default: the head', type: 'integer', minimum: 1 })
  @IsOptional()
  @IntegerQuery()
  @IsInt()
  @Min(1)
  toPosition?: number;

  @ApiPropertyOptional({
    description: 'first recorded instant (inclusive); give this or fromPosition',
    example: '2026-12-01T03:56:00Z',
    ...INSTANT,
  })
  @IsOptional()
  @IsoInstant()
  fromTime?: string;

  @ApiPropertyOptional({
    description: 'events recorded before this instant (exclusive); with fromTime; default: up to the head',
    ...INSTANT,
  })
  @IsOptional()
  @IsoInstant()
  toTime?: string;
}

/** One line of GET /v1/admin/log/events (documentation of the NDJSON lines; the response is not one JSON document). */
export const REPLAY_LINE_EXAMPLE =
  '{"eventId":"8a3ddfe1-e208-448b-a4a9-7201af0ab20a","type":"ops.action-performed","streamId":"cem-ops","revision":1,"position":4896,' +
  '"data":{"action":"export-log"},"metadata":{"schemaVersion":1,"occurredAt":"2026-12-01T03:56:34.075Z","source":"cem/cli"},"recordedAt":"2026-12-01T03:56:34.075Z"}\n';
export const EXPORT_EXAMPLE =
  '{"format":"cem-log","version":1,"exportedAt":"2026-12-01T03:56:32.910Z","store":"sqlite"}\n' +
  '{"seq":1,"position":1,"eventId":"690a5246-8566-5b9f-8a06-571cff47c626","streamId":"customer-bdbab05c-0279-4efd-a111-fbaca73a086a","revision":0,"type":"customer.registered","data":{},"metadata":{},"recordedAt":"2026-12-01T03:36:16.500Z","hash":"ab12..."}\n' +
  '{"end":{"seq":1,"position":1,"hash":"ab12..."}}\n';
