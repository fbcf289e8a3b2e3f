import { applyDecorators, SetMetadata } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { Role } from '@cem/platform';

export const ROLES_KEY = 'cem:roles';
export const PUBLIC_KEY = 'cem:public';
/** The Fastify route config entry carrying an endpoint's roles, read by the onRequest key check (before the body is parsed). */
export const ROUTE_ROLES = 'cemRoles';

/** The roles that may call an endpoint. Every endpoint states its roles or is marked @Public(). */
export const Roles = (...roles: Role[]) => applyDecorators(SetMetadata(ROLES_KEY, roles), RouteConfig({ [ROUTE_ROLES]: roles }));
export const Public = () => SetMetadata(PUBLIC_KEY, true);
