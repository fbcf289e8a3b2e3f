import { Controller, Get, Inject, NotFoundException, Param, Query, Res, UnprocessableEntityException, UsePipes } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DomainValidationError, parseIdentifierKey, type Identifier } from '@cem/domain';
import {
  CUSTOMER_360,
  customerAsOfFromLog,
  InvalidCursorError,
  segmentDefinitionsAsOf,
  type AsOfBasis,
  type CustomerAsOf,
  type CustomerLookup,
  type ReadSide,
} from '@cem/read-models';
import { CHURN_RISK, type ChurnScoreView, type MergedAway } from '@cem/read-models/churn-risk';
import { SEGMENTS } from '@cem/read-models/segments';
import type { Platform } from '@cem/platform';
import { Roles } from '../auth/roles.decorator';
import { PLATFORM } from '../tokens';
import {
  ConsistencyQueryDto,
  Customer360Dto,
  CustomerPageDto,
  CustomerQueryDto,
  LookupQueryDto,
  MergedPointerDto,
  SearchQueryDto,
  TimelinePageDto,
  TimelineQueryDto,
} from './customers.dto';
import { customerAnswer, invalidParameter, queryValidation } from '../http/query-answers';
import { waitForPosition } from '../http/read-your-writes';
import { READ_SIDE } from './read-side.token';

/**
 * The customer 360 query API (role analyst). Merged-away ids answer 307 with a pointer to the
 * survivor: a merge can be undone later, so the redirect is not permanent.
 */
@ApiTags('customers')
@ApiSecurity('api-key')
@Controller('v1/customers')
@UsePipes(queryValidation)
export class CustomersController {
  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(PLATFORM) private readonly platform: Platform,
  ) {}

  private get customers() {
    return this.readSide.queries[CUSTOMER_360];
  }

  @Get()
  @Roles('analyst')
  @ApiOperation({
    summary: 'Search customers by segment, lifecycle stage, last seen, NPS category (role: analyst)',
    description: 'Keyset pagination: pass nextCursor back with the same filters and sort.',
  })
  @ApiOkResponse({ type: CustomerPageDto })
  @ApiResponse({ status: 422, description: 'a filter, sort or cursor is invalid' })
  async search(@Query() q: SearchQueryDto): Promise<CustomerPageDto> {
    const now = await this.consistent(q);
    let customerId: string | undefined;
    if (q.identifier !== undefined) {
      customerId = await this.customers.customerIdOf(this.identifier(q.identifier));
      if (!customerId) return { items: [] };
    }
    return this.withCursor(() =>
      this.customers.search(
        {
          customerId,
          valueSegment: q.segment,
          lifecycleStage: q.stage,
          npsCategory: q.npsCategory,
          lastSeenFrom: q.lastSeenFrom && new Date(q.lastSeenFrom).toISOString(),
          lastSeenTo: q.lastSeenTo && new Date(q.lastSeenTo).toISOString(),
          sort: q.sort,
          limit: q.limit,
          cursor: q.cursor,
        },
        now,
      ),
    );
  }

  @Get('lookup')
  @Roles('analyst')
  @ApiOperation({ summary: 'The 360 view of the customer holding an identifier (role: analyst)' })
  @ApiOkResponse({ type: Customer360Dto })
  @ApiResponse({ status: 404, description: 'no customer holds this identifier' })
  @ApiResponse({ status: 422, description: 'the identifier is not valid' })
  async lookup(@Query() q: LookupQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const now = await this.consistent(q);
    const found = await this.withChurnRisk(await this.customers.byIdentifier(this.identifier(q.identifier), now), q);
    return this.answer(found, reply, (id) => `/v1/customers/${id}`);
  }

  @Get(':id')
  @Roles('analyst', 'ops')
  @ApiOperation({
    summary: 'The 360 view of a customer, live or as of a past instant (role: analyst or ops)',
    description:
      "With asOf (and by), the view is computed from the log for this one customer with the projection's own code, " +
      'not read from the read models, churnRisk included (facts folded from the same events, scored by the model of that instant). Role ops too: auditors reproduce what was known.',
  })
  @ApiParam({ name: 'id', description: 'customer id' })
  @ApiOkResponse({ type: Customer360Dto })
  @ApiResponse({ status: 307, type: MergedPointerDto, description: 'merged into another customer (at asOf): Location names the survivor' })
  @ApiResponse({ status: 404, description: 'unknown customer, or (with asOf) no event of it by then' })
  @ApiResponse({
    status: 422,
    description:
      'a parameter is invalid: asOf not an ISO-8601 instant or in the future, by not occurred/recorded, by without asOf, at with asOf',
  })
  async byId(@Param('id') id: string, @Query() q: CustomerQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    if (q.asOf !== undefined || q.by !== undefined) return this.asOf(id, q, reply);
    const now = await this.consistent(q);
    return this.answer(await this.withChurnRisk(await this.customers.byId(id, now), q), reply, (survivor) => `/v1/customers/${survivor}`);
  }

  /** The as-of view: from the log only, so it needs no read-your-writes wait and reads no read model. */
  private async asOf(id: string, q: CustomerQueryDto, reply: FastifyReply) {
    if (q.asOf === undefined) throw invalidParameter('by', 'by needs asOf: the instant to look at');
    if (q.at !== undefined) throw invalidParameter('at', 'at and asOf are exclusive: asOf evaluates stage and case ages at itself');
    const at = Date.parse(q.asOf);
    // the wall clock, the one recordedAt comes from: a later instant has nothing recorded yet
    if (at > Date.now()) throw invalidParameter('asOf', 'asOf is in the future');
    const by = q.by ?? 'occurred';
    const found = await customerAsOfFromLog(this.platform.store, id, at, by);
    if (found.kind === 'not-found')
      throw new NotFoundException({ error: 'not_found', message: `no such customer, or none of its events ${by} by ${q.asOf}` });
    const answer: CustomerLookup =
      found.kind === 'found'
        ? {
            kind: 'found',
            view: {
              ...found.view,
              churnRisk: churnRiskSummary(found.churnRisk),
              segments: await this.segmentsAsOf(found.segments, at, by),
            } as typeof found.view,
          }
        : found;
    const query = `?asOf=${encodeURIComponent(q.asOf)}&by=${by}`;
    return this.answer(answer, reply, (survivor) => `/v1/customers/${survivor}${query}`);
  }

  @Get(':id/timeline')
  @Roles('analyst')
  @ApiOperation({
    summary: "The customer's events by occurredAt, a page at a time (role: analyst)",
    description: 'Includes the events of customers merged into this one.',
  })
  @ApiParam({ name: 'id', description: 'customer id' })
  @ApiOkResponse({ type: TimelinePageDto })
  @ApiResponse({ status: 307, type: MergedPointerDto, description: "merged into another customer: Location names the survivor's timeline" })
  @ApiResponse({ status: 404, description: 'unknown customer' })
  async timeline(@Param('id') id: string, @Query() q: TimelineQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    await this.consistent(q);
    const found = await this.customers.byId(id);
    if (found.kind !== 'found') return this.answer(found, reply, (survivor) => `/v1/customers/${survivor}/timeline`);
    return this.withCursor(() => this.customers.timeline(id, { limit: q.limit, cursor: q.cursor, order: q.order }));
  }

  /** Waits for read-your-writes when asked; returns the instant to evaluate time-dependent facts at. */
  private async consistent(q: ConsistencyQueryDto): Promise<number | undefined> {
    await waitForPosition(this.platform, this.readSide, q.minPosition, CUSTOMER_360);
    return q.at ? Date.parse(q.at) : undefined; // undefined: the read side's clock
  }

  private identifier(key: string): Identifier {
    try {
      return parseIdentifierKey(key, { defaultPhoneRegion: this.platform.config.DEFAULT_PHONE_REGION });
    } catch (e) {
      if (e instanceof DomainValidationError)
        throw new UnprocessableEntityException({ error: 'validation_failed', message: 'the identifier is not valid', errors: e.errors });
      throw e;
    }
  }

  private async withCursor<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (e) {
      if (e instanceof InvalidCursorError)
        throw new UnprocessableEntityException({
          error: 'validation_failed',
          message: e.message,
          errors: [{ field: 'cursor', reason: e.message }],
        });
      throw e;
    }
  }

  /**
   * The churn-risk score and band of a found customer, at the view's own instant (the churn-risk
   * read model: docs/churn-risk.md), null when it has no touch point yet; and the segments it is in.
   */
  private async withChurnRisk(found: CustomerLookup, q: ConsistencyQueryDto): Promise<CustomerLookup> {
    if (found.kind !== 'found') return found;
    await waitForPosition(this.platform, this.readSide, q.minPosition, CHURN_RISK);
    const score = await this.readSide.queries[CHURN_RISK].score(found.view.customerId, Date.parse(found.view.asOf));
    await waitForPosition(this.platform, this.readSide, q.minPosition, SEGMENTS);
    const segments = await this.readSide.queries[SEGMENTS].ofCustomer(found.view.customerId);
    return { kind: 'found', view: { ...found.view, churnRisk: churnRiskSummary(score), segments } as typeof found.view };
  }

  /** The segments of an as-of view, named and consent-checked by their definitions as of the same instant. */
  private async segmentsAsOf(segments: CustomerAsOf['segments'], at: number, by: AsOfBasis) {
    const definitions = await segmentDefinitionsAsOf(
      this.platform.store,
      segments.map((s) => s.segmentId),
      at,
      by,
    );
    return segments.map((s) => {
      const d = definitions.get(s.segmentId);
      const purpose = d?.consentPurpose ?? null;
      return {
        segmentId: s.segmentId,
        name: d?.name ?? s.segmentId,
        since: s.since,
        consent: purpose === null || s.consents[purpose] === true,
      };
    });
  }

  private answer(found: CustomerLookup, reply: FastifyReply, location: (survivorId: string) => string) {
    return customerAnswer(found, reply, location);
  }
}

/** The churn-risk part of a 360 answer: score, band and the three largest pushes towards churn; null without a score. */
function churnRiskSummary(score: ChurnScoreView | MergedAway | null | undefined) {
  if (!score || !('band' in score)) return null;
  return {
    probability: score.probability,
    band: score.band,
    logOdds: score.logOdds,
    model: { name: score.model.name, version: score.model.version },
    topFactors: score.factors
      .filter((f) => f.contribution > 0)
      .slice(0, 3)
      .map((f) => ({ name: f.name, contribution: f.contribution, reason: f.reason })),
  };
}
