import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Logger,
  NotFoundException,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
  UnprocessableEntityException,
  UsePipes,
} from '@nestjs/common';
import {
  ApiBody,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  decideSegment,
  DomainValidationError,
  SegmentArchivedError,
  SegmentExistsError,
  SegmentNotFoundError,
  segmentProblems,
  segmentStreamId,
  SEGMENT_ID,
  SEGMENT_ID_RULE,
  type FieldError,
  type SegmentCommand,
  type SegmentDefinition,
  type SegmentState,
} from '@cem/domain';
import { WrongExpectedRevisionError } from '@cem/event-store';
import { appendDecided, latestOf } from '../http/definition-streams';
import type { Platform } from '@cem/platform';
import { InvalidCursorError, type ReadSide } from '@cem/read-models';
import { MILESTONES } from '@cem/read-models/milestones';
import { compileSegmentRule, SEGMENTS, type RuleVocabulary, type SegmentView } from '@cem/read-models/segments';
import type { AuthenticatedRequest } from '../auth/authorize';
import { Roles } from '../auth/roles.decorator';
import { READ_SIDE } from '../customers/read-side.token';
import { jsonOrCsv, sendCsv } from '../http/csv';
import { queryValidation } from '../http/query-answers';
import { waitForPosition } from '../http/read-your-writes';
import { PLATFORM } from '../tokens';
import {
  CreateSegmentDto,
  SegmentBodyDto,
  SegmentDryRunBodyDto,
  SegmentDryRunDto,
  SegmentListDto,
  SegmentMembersDto,
  SegmentMembersQueryDto,
  SegmentQueryDto,
  SegmentReportDto,
  SegmentWrittenDto,
} from './segments.dto';

const DEFINITION_FIELDS = new Set(['name', 'description', 'rule', 'consentPurpose']);
const MEMBERS_CSV_EXAMPLE =
  'segmentId,customerId,since,version\r\nat-risk-promoters,0b7e9c1e-3c1f-5d8a-9f2e-1a2b3c4d5e6f,2026-11-20T09:15:00.000Z,1\r\n';
/** members a CSV export walks per query */
const EXPORT_PAGE = 1000;

const refused = (errors: FieldError[], what = 'the segment was refused; nothing was written') =>
  new BadRequestException({ statusCode: 400, error: 'validation_failed', message: what, errors });

/**
 * Analyst-defined segments (role analyst; docs/segments.md): definitions created, changed and
 * archived as events on the segment's stream, a dry run before saving, sizes with their trend, the
 * members (consent-aware) as pages or a CSV export.
 */
@ApiTags('segments')
@ApiSecurity('api-key')
@ApiExtraModels(SegmentMembersDto)
@Controller('v1/segments')
export class SegmentsController {
  private readonly logger = new Logger('segments');

  constructor(
    @Inject(READ_SIDE) private readonly readSide: ReadSide,
    @Inject(PLATFORM) private readonly platform: Platform,
  ) {}

  private get segments() {
    return this.readSide.queries[SEGMENTS];
  }

  @Post()
  @Roles('analyst')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Create a segment: a name, a description, a rule and the consent purpose it is used for (role: analyst)',
    description: 'Its members are evaluated over every customer in the background; GET /v1/segments/{segmentId} shows the progress.',
  })
  @ApiBody({ type: CreateSegmentDto })
  @ApiCreatedResponse({ type: SegmentWrittenDto })
  @ApiResponse({
    status: 400,
    description: 'refused, nothing written: `errors` names each problem by its JSON path (e.g. `rule.all[1].value`)',
  })
  @ApiResponse({ status: 409, description: 'a segment with this id exists (change it with PUT); nothing was written' })
  async create(@Body() body: unknown, @Req() request: AuthenticatedRequest): Promise<SegmentWrittenDto> {
    const input = asObject(body);
    const problems: FieldError[] = [];
    if (typeof input.segmentId !== 'string' || !SEGMENT_ID.test(input.segmentId))
      problems.push({ field: 'segmentId', reason: SEGMENT_ID_RULE });
    const { segmentId, ...rest } = input;
    const segment = await this.definitionOf(rest, problems);
    return this.write({
      kind: 'create',
      segmentId: segmentId as string,
      segment,
      changedBy: authorOf(request),
      occurredAt: new Date().toISOString(),
    });
  }

  @Put(':segmentId')
  @Roles('analyst')
  @ApiOperation({ summary: 'Change a segment: the whole definition, recorded as a new version (role: analyst)' })
  @ApiParam({ name: 'segmentId', example: 'at-risk-promoters' })
  @ApiBody({ type: SegmentBodyDto })
  @ApiOkResponse({ type: SegmentWrittenDto })
  @ApiResponse({ status: 400, description: 'refused, nothing written: `errors` names each problem by its JSON path' })
  @ApiResponse({ status: 404, description: 'no such segment' })
  @ApiResponse({ status: 409, description: 'archived, or changed by someone else at the same moment; nothing was written' })
  async change(
    @Param('segmentId') segmentId: string,
    @Body() body: unknown,
    @Req() request: AuthenticatedRequest,
  ): Promise<SegmentWrittenDto> {
    this.known(segmentId);
    const segment = await this.definitionOf(asObject(body), []);
    return this.write({ kind: 'change', segmentId, segment, changedBy: authorOf(request), occurredAt: new Date().toISOString() });
  }

  @Delete(':segmentId')
  @Roles('analyst')
  @ApiOperation({ summary: 'Archive a segment: its members leave (segment.left), its history stays (role: analyst)' })
  @ApiParam({ name: 'segmentId', example: 'at-risk-promoters' })
  @ApiOkResponse({ type: SegmentWrittenDto })
  @ApiResponse({ status: 404, description: 'no such segment' })
  @ApiResponse({ status: 409, description: 'already archived, or changed at the same moment' })
  async archive(@Param('segmentId') segmentId: string, @Req() request: AuthenticatedRequest): Promise<SegmentWrittenDto> {
    this.known(segmentId);
    return this.write({ kind: 'archive', segmentId, changedBy: authorOf(request), occurredAt: new Date().toISOString() });
  }

  @Post('dry-run')
  @Roles('analyst')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'How many customers a rule matches now, how many would be held back for consent, and 10 of them; nothing saved (role: analyst)',
  })
  @ApiBody({ type: SegmentDryRunBodyDto })
  @ApiOkResponse({ type: SegmentDryRunDto })
  @ApiResponse({ status: 400, description: 'refused: `errors` names each problem by its JSON path' })
  async dryRun(@Body() body: unknown): Promise<SegmentDryRunDto> {
    const input = asObject(body);
    const problems: FieldError[] = Object.keys(input)
      .filter((k) => k !== 'rule' && k !== 'consentPurpose')
      .map((k) => ({ field: k.slice(0, 64), reason: 'unknown field: a dry run takes rule and consentPurpose' }));
    const purpose = await this.purposeOf(input.consentPurpose, problems);
    const check = compileSegmentRule(input.rule, await this.vocabulary());
    if (!check.ok) problems.push(...check.errors);
    if (problems.length > 0 || !check.ok) throw refused(problems, 'the rule was refused');
    return this.segments.dryRun(check.evaluate, purpose);
  }

  @Get()
  @Roles('analyst')
  @UsePipes(queryValidation)
  @ApiOperation({ summary: 'Every segment with its size, held-back count, evaluation progress and size trend per day (role: analyst)' })
  @ApiOkResponse({ type: SegmentListDto })
  @ApiResponse({ status: 422, description: 'invalid query parameters, each named' })
  async list(@Query() q: SegmentQueryDto): Promise<SegmentListDto> {
    await waitForPosition(this.platform, this.readSide, q.minPosition, SEGMENTS);
    const at = q.at ? Date.parse(q.at) : Date.now();
    const items = await Promise.all((await this.segments.list()).map((s) => this.summary(s, q.trendDays ?? 30, at)));
    return { asOf: new Date(at).toISOString(), items };
  }

  @Get(':segmentId')
  @Roles('analyst')
  @UsePipes(queryValidation)
  @ApiOperation({ summary: 'One segment: definition, size, held-back count, evaluation progress, trend and every change (role: analyst)' })
  @ApiParam({ name: 'segmentId', example: 'at-risk-promoters' })
  @ApiOkResponse({ type: SegmentReportDto })
  @ApiResponse({ status: 404, description: 'no such segment' })
  @ApiResponse({ status: 422, description: 'invalid query parameters, each named' })
  async byId(@Param('segmentId') segmentId: string, @Query() q: SegmentQueryDto): Promise<SegmentReportDto> {
    await waitForPosition(this.platform, this.readSide, q.minPosition, SEGMENTS);
    const view = await this.found(segmentId);
    const at = q.at ? Date.parse(q.at) : Date.now();
    return { ...(await this.summary(view, q.trendDays ?? 30, at)), changes: await this.segments.changes(segmentId) };
  }

  @Get(':segmentId/members')
  @Roles('analyst')
  @UsePipes(queryValidation)
  @ApiOperation({
    summary: 'The members that may be exported (holding the consent purpose), by customer id, a page at a time or as CSV (role: analyst)',
    description: 'Members without the consent purpose are counted in `heldBack` and never listed nor exported.',
  })
  @ApiParam({ name: 'segmentId', example: 'at-risk-promoters' })
  @ApiOkResponse(jsonOrCsv(SegmentMembersDto, MEMBERS_CSV_EXAMPLE))
  @ApiResponse({ status: 404, description: 'no such segment' })
  @ApiResponse({ status: 422, description: 'invalid query parameters (a cursor this endpoint did not return), each named' })
  async members(
    @Param('segmentId') segmentId: string,
    @Query() q: SegmentMembersQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    await waitForPosition(this.platform, this.readSide, q.minPosition, SEGMENTS);
    const view = await this.found(segmentId);
    try {
      if (q.format === 'csv') {
        const rows: Record<string, unknown>[] = [];
        let cursor = q.cursor;
        do {
          const page = await this.segments.members(view, { limit: EXPORT_PAGE, cursor, consentOnly: true });
          rows.push(...page.items.map((m) => ({ segmentId, customerId: m.customerId, since: m.since, version: m.version })));
          cursor = page.nextCursor;
        } while (cursor);
        return sendCsv(reply, `segment-${segmentId}-members.csv`, ['segmentId', 'customerId', 'since', 'version'], rows);
      }
      const [size, page] = await Promise.all([
        this.segments.size(view),
        this.segments.members(view, { limit: q.limit ?? 100, cursor: q.cursor, consentOnly: true }),
      ]);
      return {
        segmentId,
        ...size,
        items: page.items.map(({ consent: _c, ...m }) => m),
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      };
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

  private async summary(view: SegmentView, trendDays: number, at: number) {
    const [size, trend] = await Promise.all([this.segments.size(view), this.segments.trend(view.segmentId, trendDays, at)]);
    // from the read store: written by the process that runs the scheduler (this one, or the projector's)
    const e = await this.segments.evaluationOf(view.segmentId);
    return {
      ...view,
      ...size,
      activatable: size.size - size.heldBack,
      evaluation: e
        ? { version: e.version, state: e.state, evaluated: e.evaluated, total: e.total, pending: e.pending, asOf: e.asOf }
        : null,
      trend,
    };
  }

  private async found(segmentId: string): Promise<SegmentView> {
    const view = SEGMENT_ID.test(segmentId) ? await this.segments.byId(segmentId) : undefined;
    if (!view) throw new NotFoundException({ error: 'not_found', message: 'no such segment' });
    return view;
  }

  /** A path id that cannot name a segment is an unknown segment, as for reads. */
  private known(segmentId: string): void {
    if (!SEGMENT_ID.test(segmentId)) throw new NotFoundException({ error: 'not_found', message: 'no such segment' });
  }

  /** The definition in a body, or a 400 naming every problem (with `problems` found before). */
  private async definitionOf(input: Record<string, unknown>, problems: FieldError[]): Promise<SegmentDefinition> {
    for (const k of Object.keys(input)) if (!DEFINITION_FIELDS.has(k)) problems.push({ field: k.slice(0, 64), reason: 'unknown field' });
    const segment: SegmentDefinition = {
      name: input.name as string,
      description: input.description === undefined ? '' : (input.description as string),
      rule: input.rule as Record<string, unknown>,
      consentPurpose: null,
    };
    const shape = segmentProblems(segment);
    problems.push(...shape);
    segment.consentPurpose = await this.purposeOf(input.consentPurpose, problems);
    if (!shape.some((p) => p.field === 'rule')) {
      const check = compileSegmentRule(input.rule, await this.vocabulary());
      if (!check.ok) problems.push(...check.errors);
    }
    if (problems.length > 0) throw refused(problems);
    return segment;
  }

  private async purposeOf(value: unknown, problems: FieldError[]): Promise<string | null> {
    if (value === undefined || value === null) return null;
    const check = segmentProblems({ name: 'x', description: '', rule: {}, consentPurpose: value as string });
    if (check.length > 0) {
      problems.push(...check);
      return null;
    }
    const known = await this.segments.consentPurposes();
    if (!known.has(value as string))
      problems.push({ field: 'consentPurpose', reason: `unknown consent purpose; known: ${[...known].sort().join(', ')}` });
    return value as string;
  }

  private async vocabulary(): Promise<RuleVocabulary> {
    const definitions = await this.readSide.queries[MILESTONES].definitions();
    return {
      consentPurposes: await this.segments.consentPurposes(),
      milestoneIds: definitions ? new Set(definitions.milestones.map((m) => m.id)) : undefined,
    };
  }

  /** read -> decide -> append with the expected revision: a concurrent change is a 409, never a lost update */
  private async write(command: SegmentCommand): Promise<SegmentWrittenDto> {
    const streamId = segmentStreamId(command.segmentId);
    const state = await this.stateOf(streamId);
    try {
      const events = decideSegment(command, state);
      const position = await appendDecided(this.platform.store, streamId, state.revision, events);
      // evaluate the new definition over every customer in the background; the answer does not wait
      this.readSide
        .evaluateSegmentsNow?.()
        .catch((e: unknown) => this.logger.error({ msg: 'segment evaluation failed', error: e instanceof Error ? e.name : 'unknown' }));
      return { segmentId: command.segmentId, version: events[0].data.version, position };
    } catch (e) {
      if (e instanceof DomainValidationError) throw refused(e.errors);
      if (e instanceof SegmentExistsError) throw new ConflictException({ error: 'segment_exists', message: e.message });
      if (e instanceof SegmentNotFoundError) throw new NotFoundException({ error: 'not_found', message: e.message });
      if (e instanceof SegmentArchivedError) throw new ConflictException({ error: 'segment_archived', message: e.message });
      if (e instanceof WrongExpectedRevisionError)
        throw new ConflictException({
          error: 'concurrent_change',
          message: 'the segment was changed at the same moment; read it again and retry',
        });
      throw e;
    }
  }

  private async stateOf(streamId: string): Promise<SegmentState> {
    const last = await latestOf(this.platform.store, streamId);
    if (!last) return { revision: -1, version: 0, archived: false };
    return { revision: last.revision, version: (last.data as { version: number }).version, archived: last.type === 'segment.archived' };
  }
}

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw refused([], 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** The author recorded with a change: the API key's name (never its secret). */
const authorOf = (request: AuthenticatedRequest): string => request.principal?.name ?? request.principal?.keyId ?? 'unknown';
