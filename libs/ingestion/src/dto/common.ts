import { IsIn, IsNumber, IsString, Matches, MaxLength, Min } from 'class-validator';
import { applyDecorators } from '@nestjs/common';

/** Short machine text: ids, codes, categories. */
export const ShortText = (max = 200) => applyDecorators(IsString(), MaxLength(max));
/** Free text written by people (comments, notes): personal data, bounded. */
export const FreeText = (max = 5000) => applyDecorators(IsString(), MaxLength(max));
export const Currency = () =>
  applyDecorators(IsString(), Matches(/^[A-Z]{3}$/, { message: '$property must be an ISO-4217 code such as EUR' }));
export const Money = () => applyDecorators(IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 4 }), Min(0));
export const OneOf = (values: readonly string[]) => IsIn(values as string[], { message: `$property must be one of ${values.join(', ')}` });
