import { Controller, Get, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ROLES } from '@cem/platform';
import type { AuthenticatedRequest } from '../auth/authorize';
import { Roles } from '../auth/roles.decorator';

export class ApiKeyIdentityDto {
  @ApiProperty({ description: 'the id of the key (what `changedBy` fields name)', example: 'config-1' }) keyId!: string;
  @ApiProperty({ description: 'the name the key was created with', example: 'dashboard' }) name!: string;
  @ApiProperty({ enum: ROLES, isArray: true, description: 'the roles the key holds', example: ['analyst', 'ops'] }) roles!: string[];
}

/**
 * Who the caller's key is: any valid key may ask (whatever its role), so a client such as the
 * dashboard can show only what the key may see instead of probing endpoints for 403s.
 */
@ApiTags('operations')
@Controller('v1/me')
export class MeController {
  @Get()
  @Roles(...ROLES)
  @ApiOperation({ summary: 'The calling API key: its id, name and roles (any role); the key itself is never returned' })
  @ApiOkResponse({ type: ApiKeyIdentityDto })
  me(@Req() request: AuthenticatedRequest): ApiKeyIdentityDto {
    // the onRequest key check set the principal (the route has roles), the guard checked it again
    const principal = request.principal!;
    return { keyId: principal.keyId, name: principal.name, roles: [...principal.roles] };
  }
}
