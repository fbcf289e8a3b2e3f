import { HttpStatus, NotFoundException, UnprocessableEntityException, ValidationPipe } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { flattenValidationErrors } from '@cem/ingestion';

/** The query-parameter validation of the analyst reads: unknown parameters refused, each problem named (422). */
export const queryValidation = new ValidationPipe({
  transform: true,
  whitelist: true,
  forbidNonWhitelisted: true,
  exceptionFactory: (errors) =>
    new UnprocessableEntityException({
      error: 'validation_failed',
      message: 'invalid query parameters',
      errors: flattenValidationErrors(errors),
    }),
});

/** A 422 naming one query parameter and why. */
export const invalidParameter = (field: string, reason: string) =>
  new UnprocessableEntityException({ error: 'validation_failed', message: 'invalid query parameters', errors: [{ field, reason }] });

/** A customer lookup of any read model: found, merged away (pointing at its survivor), or unknown. */
export type CustomerAnswer<V> =
  { kind: 'found'; view: V } | { kind: 'merged'; customerId: string; survivorId: string } | { kind: 'not-found' };

/**
 * The view; 307 to the survivor's resource for a merged-away id (307, not 308: a merge can be
 * undone), with a body naming it; 404 for an unknown id.
 */
export function customerAnswer<V>(found: CustomerAnswer<V>, reply: FastifyReply, location: (survivorId: string) => string) {
  if (found.kind === 'found') return found.view;
  if (found.kind === 'merged') {
    const to = location(found.survivorId);
    reply.status(HttpStatus.TEMPORARY_REDIRECT).header('location', to);
    return {
      statusCode: 307,
      error: 'merged',
      message: `customer ${found.customerId} was merged into ${found.survivorId}`,
      customerId: found.customerId,
      mergedInto: found.survivorId,
      location: to,
    };
  }
  throw new NotFoundException({ error: 'not_found', message: 'no such customer' });
}
