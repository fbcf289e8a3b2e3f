import { ForbiddenException, UnauthorizedException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal, Platform, Role } from '@cem/platform';

/** A request once its key was checked: the principal it acts as. */
export type AuthenticatedRequest = FastifyRequest & { principal?: ApiKeyPrincipal };

/**
 * The key of the request (`Authorization: Bearer <key>` or `X-API-Key`) must be known and hold one
 * of `roles`: 401 without a valid key, 403 without the role. Returns the principal.
 */
export function authorize(platform: Platform, request: FastifyRequest, roles: readonly Role[]): ApiKeyPrincipal {
  const key = extractKey(request);
  if (!key) throw new UnauthorizedException({ error: 'unauthenticated', message: 'an API key is required (Authorization: Bearer <key>)' });
  const principal = platform.apiKeys.authenticate(key);
  if (!principal) throw new UnauthorizedException({ error: 'unauthenticated', message: 'the API key is unknown or revoked' });
  assertRole(principal, roles);
  return principal;
}

export function assertRole(principal: ApiKeyPrincipal, roles: readonly Role[]): void {
  if (!roles.some((r) => principal.roles.includes(r))) {
    throw new ForbiddenException({ error: 'forbidden', message: `this endpoint needs the role ${roles.join(' or ') || '(none granted)'}` });
  }
}

/**
 * The one API key of a request. A request that carries a key in both headers with different values,
 * or an Authorization header that is not `Bearer <key>`, is refused (401) rather than served on
 * whichever header happens to be valid: an ambiguous credential is a mistake or a probe.
 */
function extractKey(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  const header = request.headers['x-api-key'];
  let bearer: string | undefined;
  if (auth !== undefined) {
    if (typeof auth !== 'string' || !auth.startsWith('Bearer ') || auth.slice(7).trim() === '') {
      throw new UnauthorizedException({ error: 'unauthenticated', message: 'the Authorization header must be "Bearer <key>"' });
    }
    bearer = auth.slice(7).trim();
  }
  const apiKey = typeof header === 'string' && header.length > 0 ? header : undefined;
  if (header !== undefined && apiKey === undefined) {
    throw new UnauthorizedException({ error: 'unauthenticated', message: 'the X-API-Key header is empty' });
  }
  if (bearer !== undefined && apiKey !== undefined && bearer !== apiKey) {
    throw new UnauthorizedException({
      error: 'unauthenticated',
      message: 'two different API keys were sent: send one, in Authorization: Bearer or X-API-Key',
    });
  }
  return bearer ?? apiKey;
}
