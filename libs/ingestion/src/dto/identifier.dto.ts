import { IsString } from 'class-validator';
import { IDENTIFIER_KINDS, type IdentifierKind } from '@cem/domain';
import { OneOf } from './common';

/**
 * Shape only: the value is normalised and checked per kind by the domain (normaliseIdentifier), its
 * length too (IDENTIFIER_LIMITS), so a value too long gets one answer with its kind's limit.
 */
export class IdentifierDto {
  @OneOf(IDENTIFIER_KINDS) kind!: IdentifierKind;
  @IsString() value!: string;
}
