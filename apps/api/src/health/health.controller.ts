import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Platform } from '@cem/platform';
import { Public } from '../auth/roles.decorator';
import { PLATFORM } from '../tokens';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(@Inject(PLATFORM) private readonly platform: Platform) {}

  @Get('live')
  @Public()
  @ApiOperation({ summary: 'Liveness (public)' })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({ summary: 'Readiness: the event store answers (public)' })
  async ready() {
    const head = await this.platform.store.headPosition();
    return { status: 'ready', eventStore: { headPosition: head } };
  }
}
