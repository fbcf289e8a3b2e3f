import { type ArgumentMetadata, BadRequestException, type PipeTransform, ValidationPipe } from '@nestjs/common';
import { flattenValidationErrors } from '@cem/ingestion';

/**
 * The body validation of the admin commands: the body must be a JSON object (the ValidationPipe alone
 * would take null, or no body, for {}), unknown fields are refused, and each problem is named (400,
 * `errors: [{ field, reason }]`). `message` says what was not done; `emptyBody` how to send "no options".
 */
export function bodyValidation(message: string, emptyBody: string): PipeTransform {
  const dtoValidation = new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    exceptionFactory: (errors) => new BadRequestException({ error: 'validation_failed', message, errors: flattenValidationErrors(errors) }),
  });
  return {
    transform(value: unknown, metadata: ArgumentMetadata) {
      if (metadata.type === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value)))
        throw new BadRequestException({
          error: 'validation_failed',
          message,
          errors: [{ field: 'body', reason: `must be a JSON object (${emptyBody})` }],
        });
      return dtoValidation.transform(value, metadata);
    },
  };
}
