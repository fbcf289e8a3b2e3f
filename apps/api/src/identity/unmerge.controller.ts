import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  UsePipes,
} from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { apiKeyActor, performOpsAction, unmergeCustomer, UnmergeRefusedError, type ApiKeyPrincipal, type Platform } from '@cem/platform';
import { Roles } from '../auth/roles.decorator';
import { queryValidation } from '../http/query-answers';
import { PLATFORM } from '../tokens';
import { IdentityConflictListDto, IdentityConflictQueryDto, UnmergeBodyDto, UnmergeResultDto } from './unmerge.dto';

const principalOf = (request: FastifyRequest) => (request as FastifyRequest & { principal: ApiKeyPrincipal }).principal;

const badRequest = (field: string, reason: string) =>
  new BadRequestException({
    statusCode: 400,
    error: 'validation_failed',
    message: 'the unmerge was refused; nothing was changed',
    errors: [{ field, reason }],
  });

/**
 * Identity corrections (role ops; docs/identity.md, "Unmerge"): undo a merge, and list the events
 * whose identifiers led to customers an unmerge keeps apart (the conflicts to review).
 */
@ApiTags('identity')
@ApiSecurity('api-key')
@Controller('v1')
@UsePipes(queryValidation)
export class UnmergeController {
  constructor(@Inject(PLATFORM) private readonly platform: Platform) {}

  @Post('customers/:customerId/unmerge')
  @Roles('ops')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Undo a merge: split merged-away customers off this one, with the identifiers they brought or those named (role: ops)',
    description:
      'Records a customers.unmerged event per customer split off (who, why, the merge undone, the identifiers moved) and moves the identifiers in the identity registry; the read models refold both customers. A later event naming identifiers of both is not merged again: it is listed by GET /v1/identity/conflicts.',
  })
  @ApiParam({ name: 'customerId', description: 'the surviving customer of the merge' })
  @ApiBody({ type: UnmergeBodyDto })
  @ApiOkResponse({ type: UnmergeResultDto })
  @ApiResponse({
    status: 400,
    description: 'refused, nothing changed: `errors` names the field (split, identifiers, reason) and the reason',
  })
  @ApiResponse({ status: 404, description: 'no such customer' })
  @ApiResponse({
    status: 409,
    description:
      'refused, nothing changed: the customer was merged away, a customer named was never merged into it, or that merge is already undone',
  })
  async unmerge(@Param('customerId') customerId: string, @Body() body: unknown, @Req() request: FastifyRequest): Promise<UnmergeResultDto> {
    const input = parseBody(body);
    const actor = apiKeyActor(principalOf(request));
    try {
      const { r } = await performOpsAction(
        this.platform.store,
        {
          action: 'unmerge',
          actor,
          parameters: { customerId: customerId.slice(0, 64), split: input.split.map((s) => s.customerId.slice(0, 64)).join(',') },
        },
        async () => {
          const r = await unmergeCustomer(this.platform, {
            customerId,
            splits: input.split,
            reason: input.reason,
            requestedBy: actor,
          });
          return {
            result: 'ok' as const,
            outcome: `split ${r.unmerged.length} customer(s) off ${r.survivorId}`,
            figures: { position: r.unmerged[r.unmerged.length - 1]?.position ?? 0 },
            r,
          };
        },
        (e) => (e instanceof UnmergeRefusedError ? 'refused' : 'failed'),
      );
      return r;
    } catch (e) {
      if (!(e instanceof UnmergeRefusedError)) throw e;
      if (e.field === 'customerId' && e.code === 'unknown-customer')
        throw new NotFoundException({ statusCode: 404, error: 'not_found', message: e.message });
      if (['merged-away', 'never-merged', 'already-unmerged'].includes(e.code))
        throw new ConflictException({ statusCode: 409, error: e.code.replace(/-/g, '_'), message: e.message });
      // the message starts with the path of the input at fault, e.g. `split[0].identifiers[1]: ...`
      const m = /^([^:\s]+): ([\s\S]*)$/.exec(e.message);
      throw badRequest(m?.[1] ?? e.field, m?.[2] ?? e.message);
    }
  }

  @Get('identity/conflicts')
  @Roles('ops')
  @ApiOperation({
    summary: 'Events whose identifiers led to customers an unmerge keeps apart, oldest first, for review (role: ops)',
  })
  @ApiOkResponse({ type: IdentityConflictListDto })
  @ApiResponse({ status: 422, description: 'offset or limit is invalid' })
  async conflicts(@Query() q: IdentityConflictQueryDto): Promise<IdentityConflictListDto> {
    return { conflicts: await this.platform.registry.identityConflicts({ offset: q.offset ?? 0, limit: q.limit ?? 100 }) };
  }
}

/** The body, checked by hand (any JSON may come in): a field and a reason for the first problem. */
function parseBody(body: unknown): { split: { customerId: string; identifiers?: string[] }[]; reason: string | undefined } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('body', 'must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (k !== 'split' && k !== 'reason') throw badRequest(k.slice(0, 64), 'unknown field');
  if (b.reason !== undefined && typeof b.reason !== 'string') throw badRequest('reason', 'must be a string');
  if (!Array.isArray(b.split)) throw badRequest('split', 'required: a list of { customerId, identifiers? }');
  const split = b.split.map((s: unknown, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s))
      throw badRequest(`split[${i}]`, 'must be an object { customerId, identifiers? }');
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (k !== 'customerId' && k !== 'identifiers') throw badRequest(`split[${i}].${k.slice(0, 64)}`, 'unknown field');
    if (typeof o.customerId !== 'string') throw badRequest(`split[${i}].customerId`, 'required: a customer id');
    if (o.identifiers !== undefined && (!Array.isArray(o.identifiers) || o.identifiers.some((x) => typeof x !== 'string')))
      throw badRequest(`split[${i}].identifiers`, 'must be a list of kind:value strings');
    return { customerId: o.customerId, identifiers: o.identifiers as string[] | undefined };
  });
  return { split, reason: b.reason as string | undefined };
}
