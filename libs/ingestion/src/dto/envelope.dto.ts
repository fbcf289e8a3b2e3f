import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsUUID,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CHANNELS, IDENTIFIER_KINDS, TOUCHPOINT_TYPES, type Channel } from '@cem/domain';
import { IsoInstant, OneOf, ShortText } from './common';
import { IdentifierDto } from './identifier.dto';

/** ISO-8601 instant with an explicit offset (Z or ±hh:mm): a time without a zone is ambiguous. */
export const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

export class CustomerRefDto {
  @ApiProperty({ type: [IdentifierDto], example: [{ kind: 'email', value: 'ana@example.com' }] })
  @IsArray()
  @ArrayMinSize(1, { message: 'customer.identifiers must name at least one identifier' })
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => IdentifierDto)
  identifiers!: IdentifierDto[];
}

/** The envelope every touch-point event arrives in, over HTTP, Kafka or a file. */
export class EnvelopeDto {
  @ApiProperty({ format: 'uuid', description: 'chosen by the sender; the idempotency key' })
  @IsUUID('all', { message: 'eventId must be a UUID' })
  eventId!: string;

  @ApiProperty({ enum: TOUCHPOINT_TYPES })
  @OneOf(TOUCHPOINT_TYPES)
  type!: string;

  @ApiPropertyOptional({ description: 'payload version; default: the latest of the type', example: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  schemaVersion?: number;

  @ApiProperty({ example: '2026-11-20T09:15:00+01:00' })
  @IsoInstant()
  occurredAt!: string;

  @ApiProperty({ example: 'genesys-cloud', description: 'the integration that sent it' })
  @ShortText(100)
  @Matches(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, { message: 'source must be letters, digits, dot, underscore or dash' })
  source!: string;

  @ApiProperty({ enum: CHANNELS })
  @OneOf(CHANNELS)
  channel!: Channel;

  @ApiProperty({ type: CustomerRefDto })
  @IsObject()
  @ValidateNested()
  @Type(() => CustomerRefDto)
  customer!: CustomerRefDto;

  @ApiPropertyOptional() @IsOptional() @ShortText(200) agentId?: string;
  @ApiPropertyOptional() @IsOptional() @ShortText(200) correlationId?: string;
  @ApiPropertyOptional() @IsOptional() @ShortText(200) causationId?: string;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'payload of the type (see the catalogue)' })
  @IsObject()
  data!: Record<string, unknown>;
}

export { IDENTIFIER_KINDS };
