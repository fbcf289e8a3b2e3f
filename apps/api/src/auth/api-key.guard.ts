import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import type { Platform, Role } from '@cem/platform';
import { PLATFORM } from '../tokens';
import { PUBLIC_KEY, ROLES_KEY } from './roles.decorator';

/**
 * Global guard: a request needs an API key (`Authorization: Bearer <key>` or `X-API-Key`) holding one
 * of the endpoint's roles. Endpoints that declare no roles are refused: secure by default.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(PLATFORM) private readonly platform: Platform,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const roles = this.reflector.getAllAndOverride<Role[]>(ROLES_KEY, targets) ?? [];
    const request = context.switchToHttp().getRequest<FastifyRequest & { principal?: unknown }>();
    const key = extractKey(request);
    if (!key)
      throw new UnauthorizedException({ error: 'unauthenticated', message: 'an API key is required (Authorization: Bearer <key>)' });
    const principal = this.platform.apiKeys.authenticate(key);
    if (!principal) throw new UnauthorizedException({ error: 'unauthenticated', message: 'the API key is unknown or revoked' });
    if (!roles.some((r) => principal.roles.includes(r))) {
      throw new ForbiddenException({
        error: 'forbidden',
        message: `this endpoint needs the role ${roles.join(' or ') || '(none granted)'}`,
      });
    }
    request.principal = principal;
    return true;
  }
}

function extractKey(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim() || undefined;
  const header = request.headers['x-api-key'];
  return typeof header === 'string' && header.length > 0 ? header : undefined;
}
