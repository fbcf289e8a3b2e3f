import {
  BadRequestException,
  Body,
  ConflictException,
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
import { apiKeyActor, eraseCustomerAction, ErasureRefusedError, type ErasureCertificate, type Platform } from '@cem/platform';
import type { AuthenticatedRequest } from '../auth/authorize';
import { Roles } from '../auth/roles.decorator';
import { bodyValidation } from '../http/body-validation';
import { PLATFORM } from '../tokens';
import { ErasureCertificateDto, StartErasureDto } from './erasures.dto';

const ERROR = { $ref: '#/components/schemas/ErrorBody' };

/**
 * `cem erase` as an admin endpoint (role ops): the same erasure (libs/platform eraseCustomerAction),
 * the same refusals, the same certificate, recorded as the same ops event naming the API key.
 */
@ApiTags('admin')
@ApiSecurity('api-key')
@Controller('v1/admin/erasures')
export class ErasuresController {
  constructor(@Inject(PLATFORM) private readonly platform: Platform) {}

  @Post()
  @HttpCode(201)
  @Roles('ops')
  @UsePipes(bodyValidation('invalid body; nothing was erased', '{"customerId": ..., "reason": ...}'))
  @ApiOperation({
    summary: "Erase a customer's personal data by crypto-shredding and answer the erasure certificate (role: ops)",
    description:
      'Appends the certificate as a personal-data.erased event, removes the identifiers of the customer (and of every customer merged ' +
      'into it) from the identity registry, and destroys their data keys (docs/privacy.md). An erasure interrupted earlier is completed ' +
      'and answers the certificate already kept. Recorded as an ops event (action erase, the customer id; never personal data).',
  })
  @ApiBody({ type: StartErasureDto, required: true })
  @ApiResponse({ status: 201, type: ErasureCertificateDto, description: 'erased: the certificate' })
  @ApiResponse({
    status: 400,
    schema: ERROR,
    description:
      'the body is not a JSON object, has an unknown field, customerId is not a UUID, or reason is missing, blank or too long; nothing was erased',
  })
  @ApiResponse({ status: 404, schema: ERROR, description: 'not_found: no customer has this id; nothing was erased' })
  @ApiResponse({
    status: 409,
    schema: ERROR,
    description:
      'nothing was erased: merged_away (the id was merged into another customer, named in the message: erase that one), already_erased, ' +
      'or erasure_not_available (encryption is not switched on: PRIVACY_MASTER_KEY)',
  })
  async erase(@Body() body: StartErasureDto, @Req() request: AuthenticatedRequest): Promise<ErasureCertificateDto> {
    try {
      const certificate: ErasureCertificate = await eraseCustomerAction(this.platform, {
        customerId: body.customerId,
        reason: body.reason,
        actor: apiKeyActor(request.principal!),
      });
      return certificate;
    } catch (e) {
      if (e instanceof ErasureRefusedError) throw refusal(e);
      throw e;
    }
  }
}

function refusal(e: ErasureRefusedError): HttpException {
  switch (e.code) {
    case 'missing-reason':
      return new BadRequestException({
        error: 'validation_failed',
        message: 'invalid body; nothing was erased',
        errors: [{ field: e.field, reason: e.message }],
      });
    case 'unknown-customer':
      return new NotFoundException({ error: 'not_found', message: e.message });
    case 'merged-away':
      return new ConflictException({ error: 'merged_away', message: e.message });
    case 'already-erased':
      return new ConflictException({ error: 'already_erased', message: e.message });
    case 'not-available':
      return new ConflictException({ error: 'erasure_not_available', message: e.message });
  }
}
