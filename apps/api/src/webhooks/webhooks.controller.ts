import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  UsePipes,
} from '@nestjs/common';
import {
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { EventStore } from '@cem/event-store';
import type { Platform } from '@cem/platform';
import {
  webhookProblems,
  WebhookLimitError,
  type Webhook,
  type WebhookDelivery,
  type WebhookEventType,
  type WebhooksRuntime,
} from '@cem/signals';
import { Roles } from '../auth/roles.decorator';
import { queryValidation } from '../http/query-answers';
import { PLATFORM } from '../tokens';
import {
  CreateWebhookDto,
  WebhookDeliveriesQueryDto,
  WebhookDeliveryDto,
  WebhookDeliveryListDto,
  WebhookDto,
  WebhookListDto,
} from './webhooks.dto';
import { WEBHOOKS } from './webhooks.token';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FIELDS = new Set(['url', 'secret', 'eventTypes']);
/** Each webhook is a queue and a request per signal: a bound on what one ops key can make the platform do. */
export const MAX_WEBHOOKS = 100;

/** A webhook as answered: never its secret. */
const view = (w: Webhook): WebhookDto => ({
  id: w.id,
  url: w.url,
  eventTypes: w.eventTypes,
  fromPosition: w.fromPosition,
  createdAt: w.createdAt,
});

const deliveryView = (d: WebhookDelivery): WebhookDeliveryDto => ({
  deliveryId: d.deliveryId,
  eventType: d.eventType,
  signalId: d.signalId,
  customerId: d.customerId,
  status: d.status,
  attempts: d.attempts,
  lastError: d.lastError,
  lastAttemptAt: d.lastAttemptAt,
  responseCode: d.responseCode,
  nextAttemptAt: d.status === 'pending' && d.nextAttemptAt !== null ? new Date(d.nextAttemptAt).toISOString() : null,
  createdAt: d.createdAt,
  deliveredAt: d.deliveredAt,
});

const notFound = () => new NotFoundException({ error: 'not_found', message: 'no such webhook' });

/**
 * Webhooks (role ops): HTTP receivers of customer signals, signed with a per-webhook secret that is
 * write-only; each with its delivery log. Delivery: libs/signals/src/webhooks, docs/webhooks.md.
 */
@ApiTags('webhooks')
@ApiSecurity('api-key')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(
    @Inject(WEBHOOKS) private readonly webhooks: WebhooksRuntime,
    @Inject(PLATFORM) private readonly platform: Platform,
  ) {}

  private get eventStore(): EventStore {
    return this.platform.store;
  }

  @Post()
  @Roles('ops')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Configure a webhook: URL, secret and the signal types it receives (role: ops)',
    description: 'It receives the signals of events recorded after it was created. The secret is never answered.',
  })
  @ApiBody({ type: CreateWebhookDto })
  @ApiCreatedResponse({ type: WebhookDto })
  @ApiResponse({ status: 409, description: 'there are already 100 webhooks (delete one first); nothing was stored' })
  @ApiResponse({
    status: 400,
    description:
      'refused, nothing stored: the URL is not http(s), carries credentials, or points at a host not allowed (WEBHOOK_ALLOWED_HOSTS; private and link-local addresses need listing); the secret is missing or shorter than 32 characters; an event type is unknown. `errors` names each field',
  })
  async create(@Body() body: unknown): Promise<WebhookDto> {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new BadRequestException({ error: 'validation_failed', message: 'the body must be a JSON object', errors: [] });
    const input = body as Record<string, unknown>;
    const problems = [
      ...Object.keys(input)
        .filter((k) => !FIELDS.has(k))
        .map((k) => ({ field: k.slice(0, 64), reason: 'unknown field' })),
      ...webhookProblems(input, this.webhooks.config),
    ];
    if (problems.length > 0)
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'the webhook was refused; nothing was stored',
        errors: problems,
      });
    try {
      const created = this.webhooks.store.create(
        { url: input.url as string, secret: input.secret as string, eventTypes: input.eventTypes as WebhookEventType[] },
        await this.eventStore.headPosition(),
        MAX_WEBHOOKS,
      );
      return view(created);
    } catch (e) {
      if (e instanceof WebhookLimitError)
        throw new ConflictException({ error: 'limit_reached', message: `at most ${e.max} webhooks: delete one first; nothing was stored` });
      throw e;
    }
  }

  @Get()
  @Roles('ops')
  @ApiOperation({ summary: 'Every configured webhook, without secrets (role: ops)' })
  @ApiOkResponse({ type: WebhookListDto })
  list(): WebhookListDto {
    return { items: this.webhooks.store.list().map(view) };
  }

  @Get(':id')
  @Roles('ops')
  @ApiOperation({ summary: 'One webhook, without its secret (role: ops)' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: WebhookDto })
  @ApiResponse({ status: 404, description: 'no such webhook' })
  get(@Param('id') id: string): WebhookDto {
    return view(this.found(id));
  }

  @Delete(':id')
  @Roles('ops')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a webhook and its delivery log; pending deliveries are dropped (role: ops)' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiResponse({ status: 404, description: 'no such webhook' })
  remove(@Param('id') id: string): void {
    if (!UUID.test(id) || !this.webhooks.store.delete(id)) throw notFound();
  }

  @Get(':id/deliveries')
  @Roles('ops')
  @UsePipes(queryValidation)
  @ApiOperation({
    summary: 'The delivery log of a webhook, newest first: status, attempts, last error, last attempt, response code (role: ops)',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: WebhookDeliveryListDto })
  @ApiResponse({ status: 404, description: 'no such webhook' })
  @ApiResponse({ status: 422, description: 'invalid query parameters, each named' })
  deliveries(@Param('id') id: string, @Query() q: WebhookDeliveriesQueryDto): WebhookDeliveryListDto {
    this.found(id);
    const page = this.webhooks.store.deliveries(id, { status: q.status, limit: q.limit ?? 50, before: q.cursor });
    return { items: page.items.map(deliveryView), nextCursor: page.next === null ? null : String(page.next) };
  }

  private found(id: string): Webhook {
    const webhook = UUID.test(id) ? this.webhooks.store.get(id) : undefined;
    if (!webhook) throw notFound();
    return webhook;
  }
}
