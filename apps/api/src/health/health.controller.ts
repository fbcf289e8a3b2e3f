import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Platform } from '@cem/platform';
import type { ReadSide } from '@cem/read-models';
import { Public } from '../auth/roles.decorator';
import { READ_SIDE } from '../customers/read-side.token';
import { PLATFORM } from '../tokens';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(PLATFORM) private readonly platform: Platform,
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
  ) {}

  @Get('live')
  @Public()
  @ApiOperation({ summary: 'Liveness (public)' })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({
    summary:
      'Readiness: the event store answers and the projections have caught up once; reports projection lag, and each read model whose stored copy another version of the code projected (`rebuild-needed`: its old copy keeps serving until `cem rebuild` switches) (public)',
  })
  @ApiResponse({ status: 200, description: 'ready' })
  @ApiResponse({ status: 503, description: 'not ready: the projector is still catching up or retrying a failed batch' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    const head = await this.platform.store.headPosition();
    const projections = await this.readSide.health();
    if (!projections.ready) reply.status(503);
    return {
      status: projections.ready ? 'ready' : 'not-ready',
      eventStore: { headPosition: head },
      projections: {
        projector: projections.projector,
        status: projections.status,
        checkpoint: projections.lag.checkpoint,
        lagEvents: projections.lag.events,
        lagSeconds: projections.lag.seconds,
        // the read models serving a copy of another version: `cem rebuild` them (the process stays ready)
        rebuildNeeded: projections.rebuildNeeded,
        // each read model has its own lane and checkpoint: one being rebuilt shows here
        readModels: projections.readModels.map((m) => ({
          name: m.name,
          status: m.status,
          checkpoint: m.lag.checkpoint,
          lagEvents: m.lag.events,
          lagSeconds: m.lag.seconds,
          ...(m.rebuildNeeded ? { rebuildNeeded: m.rebuildNeeded } : {}),
        })),
      },
    };
  }
}
