import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Platform, Role } from '@cem/platform';
import { PLATFORM } from '../tokens';
import { assertRole, authorize, type AuthenticatedRequest } from './authorize';
import { PUBLIC_KEY, ROLES_KEY } from './roles.decorator';

/**
 * Global guard: a request needs an API key (`Authorization: Bearer <key>` or `X-API-Key`) holding one
 * of the endpoint's roles. Endpoints that declare no roles are refused: secure by default. The key
 * was usually checked already, before the body was read (installApiKeyCheck); the guard checks the
 * roles again on that principal.
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
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (request.principal) assertRole(request.principal, roles);
    else request.principal = authorize(this.platform, request, roles);
    return true;
  }
}
