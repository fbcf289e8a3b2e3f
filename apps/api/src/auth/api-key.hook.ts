import { HttpException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import type { Platform, Role } from '@cem/platform';
import { toErrorBody } from '../http/error.filter';
import { authorize, type AuthenticatedRequest } from './authorize';
import { ROUTE_ROLES } from './roles.decorator';

/**
 * Checks the API key and the role in Fastify's onRequest hook, before the body is read: a caller
 * without a valid key gets 401 (and one without the role 403) whatever it sends, never a 400, 413
 * or 415 about a body nobody should parse for it. Routes without roles (public ones, the OpenAPI
 * document, unknown paths) pass on; ApiKeyGuard still refuses a Nest route that declares no roles.
 */
export function installApiKeyCheck(fastify: FastifyInstance, platform: Platform): void {
  fastify.addHook('onRequest', async (request, reply) => {
    const roles = (request.routeOptions.config as { [ROUTE_ROLES]?: Role[] } | undefined)?.[ROUTE_ROLES];
    if (!roles) return;
    try {
      (request as AuthenticatedRequest).principal = authorize(platform, request, roles);
    } catch (e) {
      if (!(e instanceof HttpException)) throw e;
      const { status, body } = toErrorBody(e);
      return reply.code(status).send(body);
    }
  });
}
