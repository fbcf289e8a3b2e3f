import { Controller, Get, Inject, NotFoundException, Param, Query, Req, Res, UsePipes } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditTrailOf, readCustomerLog, type AuditTrail } from '@cem/read-models/audit';
import { apiKeyActor, performOpsAction, type ApiKeyPrincipal, type Platform } from '@cem/platform';
import { Roles } from '../auth/roles.decorator';
import { customerAnswer, queryValidation } from '../http/query-answers';
import { MergedPointerDto } from '../customers/customers.dto';
import { PLATFORM } from '../tokens';
import { AUDIT_PAGE_DEFAULT, AuditTrailDto, AuditTrailQueryDto } from './audit.dto';

/**
 * The audit trail of one customer (role ops): read from the log itself, never from a read model,
 * so it shows what was recorded even when a projection is behind or being rebuilt.
 */
@ApiTags('audit')
@ApiSecurity('api-key')
@Controller('v1/audit')
@UsePipes(queryValidation)
export class AuditController {
  constructor(@Inject(PLATFORM) private readonly platform: Platform) {}

  @Get('customers/:id')
  @Roles('ops')
  @ApiOperation({
    summary: 'Every event of a customer and of the customers merged into it, in recorded order (role: ops)',
    description:
      `System events included (registration, merges, churn-risk changes, milestones). A page holds up to ${AUDIT_PAGE_DEFAULT} events ` +
      'by default (limit, at most 1,000); pass nextAfter back as after for the next one. Payloads as stored: personal data included.',
  })
  @ApiParam({ name: 'id', description: 'customer id' })
  @ApiOkResponse({ type: AuditTrailDto })
  @ApiResponse({ status: 307, type: MergedPointerDto, description: "merged into another customer: Location names the survivor's trail" })
  @ApiResponse({ status: 404, description: 'unknown customer' })
  @ApiResponse({ status: 422, description: 'after or limit is invalid' })
  async customerTrail(
    @Param('id') id: string,
    @Query() q: AuditTrailQueryDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    // who read whose trail is itself audited: one ops event per page served (or refused as unknown)
    const principal = (request as FastifyRequest & { principal: ApiKeyPrincipal }).principal;
    const parameters = { customerId: id, after: q.after ?? null, limit: q.limit ?? AUDIT_PAGE_DEFAULT };
    return performOpsAction(
      this.platform.store,
      { action: 'audit-customer', actor: apiKeyActor(principal), parameters },
      async () => {
        const log = await readCustomerLog(this.platform.store, id);
        // read after the trail: every event of the trail is at or below it
        const headPosition = await this.platform.store.headPosition();
        const found: { kind: 'found'; view: AuditTrail } | typeof log =
          log.kind === 'found'
            ? {
                kind: 'found',
                view: auditTrailOf(
                  log,
                  { generatedAt: Date.now(), headPosition },
                  { after: q.after, limit: q.limit ?? AUDIT_PAGE_DEFAULT },
                ),
              }
            : log;
        const answer = customerAnswer(found, reply, (survivor) => `/v1/audit/customers/${survivor}`);
        return found.kind === 'found'
          ? {
              answer,
              result: 'ok' as const,
              outcome: `served ${found.view.events.length} of ${found.view.total} events`,
              figures: { events: found.view.events.length, headPosition },
            }
          : { answer, result: 'ok' as const, outcome: `merged into ${(found as { survivorId: string }).survivorId}: redirected` };
      },
      (e) => (e instanceof NotFoundException ? 'refused' : 'failed'),
    ).then((r) => r.answer);
  }
}
