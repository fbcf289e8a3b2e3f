import { ApiProperty } from '@nestjs/swagger';
import { IsString, IsUUID, MaxLength } from 'class-validator';
import { MAX_ERASURE_REASON } from '@cem/platform';

export class StartErasureDto {
  @ApiProperty({
    description: 'the customer to erase (a surviving customer: a merged-away id is refused, naming its survivor)',
    format: 'uuid',
  })
  @IsString()
  @IsUUID('all', { message: 'customerId must be a customer id (a UUID)' })
  customerId!: string;

  @ApiProperty({
    description: 'why, e.g. the request reference; kept in the certificate (never personal data); not blank',
    minLength: 1,
    maxLength: MAX_ERASURE_REASON,
    pattern: '\\S',
    example: 'DSR-2026-0042',
  })
  @IsString()
  @MaxLength(MAX_ERASURE_REASON)
  reason!: string;
}

class ErasureRequesterDto {
  @ApiProperty({ enum: ['os-user', 'named', 'api-key'], description: 'api-key for this endpoint' }) kind!: string;
  @ApiProperty({ description: "the API key's name (never its secret)" }) name!: string;
}

/** The erasure certificate, as `cem erase` prints it and the `personal-data.erased` event keeps it. */
export class ErasureCertificateDto {
  @ApiProperty({ format: 'uuid' }) customerId!: string;
  @ApiProperty({ type: [String], description: 'the customer and every customer merged into it: their data keys are destroyed' })
  erasedCustomerIds!: string[];
  @ApiProperty({ format: 'date-time' }) erasedAt!: string;
  @ApiProperty({ type: ErasureRequesterDto }) requestedBy!: ErasureRequesterDto;
  @ApiProperty() reason!: string;
  @ApiProperty({
    type: [String],
    description: '`<event type>: <field>` of every personal field the erased encrypted events held',
    example: ['contact.handled: notes', 'survey.answered: comment', 'survey.answered: identifiers'],
  })
  erasedFields!: string[];
  @ApiProperty({ type: 'integer', minimum: 0, description: 'events whose personal values became unreadable' }) encryptedEvents!: number;
  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'events holding personal data in plaintext (written before encryption was switched on): NOT erased by key destruction',
  })
  plaintextEvents!: number;
  @ApiProperty({ type: 'integer', minimum: 0, description: 'log position of the last event when the erasure began' })
  logHeadBefore!: number;
  @ApiProperty({ type: 'integer', minimum: 1, description: 'log position of the personal-data.erased event keeping this certificate' })
  position!: number;
  @ApiProperty({ format: 'uuid', description: 'id of that event' }) eventId!: string;
}
