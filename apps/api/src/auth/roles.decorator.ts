import { SetMetadata } from '@nestjs/common';
import type { Role } from '@cem/platform';

export const ROLES_KEY = 'cem:roles';
export const PUBLIC_KEY = 'cem:public';

/** The roles that may call an endpoint. Every endpoint states its roles or is marked @Public(). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
export const Public = () => SetMetadata(PUBLIC_KEY, true);
