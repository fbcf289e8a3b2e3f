import { Controller, Get, Inject, Query, UsePipes } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { listRebuilds, type ReadSide } from '@cem/read-models';
import { Roles } from '../auth/roles.decorator';
import { READ_SIDE } from '../customers/read-side.token';
import { queryValidation } from '../http/query-answers';
import { REBUILDS_DEFAULT, RebuildListDto, RebuildListQueryDto } from './rebuilds.dto';

/**
 * The blue/green rebuilds (`cem rebuild`) and their progress, as the process running one saves it
 * in the read store's registry every 2 s: an operator or a dashboard follows a rebuild from here.
 */
@ApiTags('admin')
@ApiSecurity('api-key')
@Controller('v1/admin')
@UsePipes(queryValidation)
export class RebuildsController {
  constructor(@Inject(READ_SIDE) private readonly readSide: ReadSide) {}

  @Get('rebuilds')
  @Roles('ops')
  @ApiOperation({ summary: 'Blue/green rebuilds of read models, newest first, with their progress (role: ops)' })
  @ApiOkResponse({ type: RebuildListDto })
  @ApiResponse({ status: 422, description: 'limit is invalid' })
  async list(@Query() q: RebuildListQueryDto): Promise<RebuildListDto> {
    return { rebuilds: await listRebuilds(this.readSide.readStore.db, q.limit ?? REBUILDS_DEFAULT) };
  }
}
