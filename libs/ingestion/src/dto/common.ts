import { IsIn, IsString, Matches, MaxLength, ValidateBy, type ValidationArguments } from 'class-validator';
import { applyDecorators } from '@nestjs/common';
import { ISO_DATE, ISO_INSTANT, isCalendarDate, isMoneyAmount, moneyAmountProblem, parseIsoInstant } from '@cem/domain';

/** Short machine text: ids, codes, categories. */
export const ShortText = (max = 200) => applyDecorators(IsString(), MaxLength(max));
/** Free text written by people (comments, notes): personal data, bounded. */
export const FreeText = (max = 5000) => applyDecorators(IsString(), MaxLength(max));
export const Currency = () =>
  applyDecorators(IsString(), Matches(/^[A-Z]{3}$/, { message: '$property must be an ISO-4217 code such as EUR' }));
/** A money amount: 0 to 100,000,000,000 with at most 4 decimal places (the projections sum it exactly). */
export const Money = () =>
  ValidateBy({
    name: 'money',
    validator: { validate: isMoneyAmount, defaultMessage: (a?: ValidationArguments) => `${a?.property} ${moneyAmountProblem(a?.value)}` },
  });

/**
 * An ISO-8601 instant with an offset that exists on the calendar: the shape, then the day, hour,
 * minute, second and offset ranges (2026-02-30 is refused, never moved to March).
 */
export const IsoInstant = () =>
  ValidateBy({
    name: 'isoInstant',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && parseIsoInstant(v) !== undefined,
      defaultMessage: (a?: ValidationArguments) =>
        typeof a?.value === 'string' && ISO_INSTANT.test(a.value)
          ? `${a.property} is not a real date-time: month 01-12, day within the month, hour 00-23, minute and second 00-59, offset up to ±23:59`
          : `${a?.property} must be an ISO-8601 date-time with an offset, e.g. 2026-11-20T09:15:00+01:00`,
    },
  });

/** A YYYY-MM-DD date that exists on the calendar. */
export const CalendarDate = () =>
  ValidateBy({
    name: 'calendarDate',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && isCalendarDate(v),
      defaultMessage: (a?: ValidationArguments) =>
        typeof a?.value === 'string' && ISO_DATE.test(a.value)
          ? `${a.property} is not a real date: month 01-12, day within the month`
          : `${a?.property} must be a date YYYY-MM-DD`,
    },
  });
export const OneOf = (values: readonly string[]) => IsIn(values as string[], { message: `$property must be one of ${values.join(', ')}` });
