import { IsString, MaxLength } from 'class-validator';
import { IDENTIFIER_KINDS, type IdentifierKind } from '@cem/domain';
import { OneOf } from './common';

/** Shape only: the value is normalised and checked per kind by the domain (normaliseIdentifier). */
export class IdentifierDto {
  @OneOf(IDENTIFIER_KINDS) kind!: IdentifierKind;
  @IsString() @MaxLength(320) value!: string;
}
