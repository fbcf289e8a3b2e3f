import { Body, Controller, HttpCode, Inject, PayloadTooLargeException, Post, Res, UnprocessableEntityException } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { EnvelopeDto } from '@cem/ingestion';
import type { Platform } from '@cem/platform';
import { Roles } from '../auth/roles.decorator';
import { PLATFORM } from '../tokens';

@ApiTags('ingest')
@ApiSecurity('api-key')
@Controller('v1')
export class EventsController {
  constructor(@Inject(PLATFORM) private readonly platform: Platform) {}

  @Post('events')
  @Roles('ingest')
  @ApiOperation({
    summary: 'Record one touch-point event (role: ingest)',
    description: 'Idempotent by eventId: a retry is acknowledged with the original position.',
  })
  @ApiBody({ type: EnvelopeDto })
  @ApiResponse({ status: 201, description: 'recorded' })
  @ApiResponse({ status: 200, description: 'already recorded (retry)' })
  @ApiResponse({ status: 422, description: 'invalid: errors name each field and reason' })
  async ingestOne(@Body() body: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const [result] = await this.platform.ingestion.ingest([body]);
    reply.status(result.duplicate ? 200 : 201);
    return result;
  }

  // Fastify reads `::` as a literal colon, so this is POST /v1/events:batch
  @Post('events::batch')
  @HttpCode(200)
  @Roles('ingest')
  @ApiOperation({
    summary: 'Record a batch of touch-point events (role: ingest)',
    description:
      'Accepted whole or refused whole: one invalid event refuses the batch and nothing is written. Body: {"events":[...]}. ' +
      'A recorded batch answers 200 whether its events were new or retries (each result says duplicate: true or false); ' +
      'POST /v1/events answers 201 for a new event and 200 for a retry.',
  })
  @ApiResponse({ status: 200, description: 'recorded (new events and retries alike): results in the order of the events' })
  @ApiResponse({ status: 413, description: 'more events or bytes than the limits' })
  @ApiResponse({ status: 422, description: 'invalid: errors carry the event index, field and reason' })
  async ingestBatch(@Body() body: unknown) {
    const events = (body as { events?: unknown } | null)?.events;
    if (!Array.isArray(events)) {
      throw new UnprocessableEntityException({
        error: 'validation_failed',
        message: 'the body must be {"events": [...]}',
        errors: [{ field: 'events', reason: 'must be an array of events' }],
      });
    }
    const max = this.platform.config.INGEST_MAX_BATCH_EVENTS;
    if (events.length > max) {
      throw new PayloadTooLargeException({
        error: 'payload_too_large',
        message: `a batch holds at most ${max} events; this one has ${events.length}`,
      });
    }
    if (events.length === 0) {
      throw new UnprocessableEntityException({
        error: 'validation_failed',
        message: 'the batch is empty',
        errors: [{ field: 'events', reason: 'must hold at least one event' }],
      });
    }
    return { results: await this.platform.ingestion.ingest(events) };
  }
}
