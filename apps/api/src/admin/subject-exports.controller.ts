import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  HttpException,
  Inject,
  NotFoundException,
  Post,
  Req,
  UsePipes,
} from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { apiKeyActor, exportSubjectAction, SubjectExportRefusedError, type Platform, type SubjectExportRequest } from '@cem/platform';
import type { AuthenticatedRequest } from '../auth/authorize';
import { Roles } from '../auth/roles.decorator';
import { bodyValidation } from '../http/body-validation';
import { PLATFORM } from '../tokens';
import { StartSubjectExportDto, SubjectExportDto } from './subject-exports.dto';

const ERROR = { $ref: '#/components/schemas/ErrorBody' };

/**
 * `cem export-subject` as an admin endpoint (role ops): the same export (libs/platform
 * exportSubjectAction), recorded as the same ops event naming the API key. A POST, so the identifier
 * travels in the body, never in a URL that proxies and access logs keep.
 */
@ApiTags('admin')
@ApiSecurity('api-key')
@Controller('v1/admin/subject-exports')
export class SubjectExportsController {
  constructor(@Inject(PLATFORM) private readonly platform: Platform) {}

  @Post()
  @HttpCode(200)
  @Roles('ops')
  @UsePipes(bodyValidation('invalid body; nothing was exported', '{"identifier": "kind:value"} or {"customerId": ...}'))
  @ApiOperation({
    summary: 'Everything held on one person, found by any identifier or a customer id, as one JSON document (role: ops)',
    description:
      "Profile, identifiers, every event with its time and source (decrypted; erased values absent), the read models' views, consents, " +
      'merge history and, for an erased person, the erasure certificate. Recorded as an ops event (the customer id found; never the identifier).',
  })
  @ApiBody({ type: StartSubjectExportDto, required: true })
  @ApiResponse({ status: 200, type: SubjectExportDto, description: 'the export' })
  @ApiResponse({
    status: 400,
    schema: ERROR,
    description:
      'the body is not a JSON object, has an unknown field, gives neither or both of identifier and customerId, the identifier is not kind:value of a known kind, or customerId is not a UUID',
  })
  @ApiResponse({ status: 404, schema: ERROR, description: 'not_found: no customer holds this identifier, or no customer has this id' })
  async export(@Body() body: StartSubjectExportDto, @Req() request: AuthenticatedRequest): Promise<SubjectExportDto> {
    try {
      const document = await exportSubjectAction(this.platform, {
        ...({ identifier: body.identifier, customerId: body.customerId } as SubjectExportRequest),
        actor: apiKeyActor(request.principal!),
      });
      return document as unknown as SubjectExportDto;
    } catch (e) {
      if (e instanceof SubjectExportRefusedError) throw refusal(e);
      throw e;
    }
  }
}

function refusal(e: SubjectExportRefusedError): HttpException {
  if (e.code === 'not-found') return new NotFoundException({ error: 'not_found', message: e.message });
  return new BadRequestException({
    error: 'validation_failed',
    message: 'invalid body; nothing was exported',
    errors: [{ field: e.field === 'request' ? 'body' : e.field, reason: e.message }],
  });
}
