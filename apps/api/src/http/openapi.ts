import type { OpenAPIObject } from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';
// class-transformer keeps the @Type() of nested properties here (its public index does not export it)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: MetadataStorage };
import { CHANNELS, IDENTIFIER_KINDS, IDENTIFIER_LIMITS, TOUCHPOINT_TYPES } from '@cem/domain';
import { IdentifierDto, PAYLOAD_DTOS } from '@cem/ingestion';
import { MAX_PATH_PARAM_LENGTH } from './framework-errors';

type Schema = Record<string, unknown>;
type Ctor = new () => object;

/**
 * Completes the generated OpenAPI document so a client generator or a fuzzer (schemathesis) can
 * build valid requests for every endpoint:
 * - request bodies: one envelope schema per event type and payload version (oneOf), each with the
 *   `data` schema of that payload, derived from the same class-validator rules that validate it
 *   (so the two cannot drift); the batch body; the import job body;
 * - the answers every operation can give (400 malformed JSON, invalid UTF-8, forbidden key; 401;
 *   403; 409; 413; 415; 422; 503 with Retry-After) with the one error shape;
 * - both ways of sending the key: `X-API-Key` and `Authorization: Bearer`.
 */
export function completeOpenApi(doc: OpenAPIObject, limits: { maxBatchEvents: number; maxBodyBytes: number }): OpenAPIObject {
  const schemas = (doc.components!.schemas ??= {}) as Record<string, Schema>;
  schemas.ErrorBody = ERROR_BODY;
  schemas.Identifier = identifierSchema();
  const variants: Schema[] = [];
  for (const type of TOUCHPOINT_TYPES) {
    const versions = Object.keys(PAYLOAD_DTOS[type]).map(Number);
    const latest = Math.max(...versions);
    for (const version of versions) {
      const dataName = `${dtoName(PAYLOAD_DTOS[type][version] as Ctor)}`;
      schemas[dataName] ??= dataSchema(PAYLOAD_DTOS[type][version] as Ctor, type, version, schemas);
      const name = `Envelope_${type}_v${version}`;
      schemas[name] = envelopeSchema(type, version, version === latest, dataName);
      variants.push({ $ref: `#/components/schemas/${name}` });
    }
  }
  schemas.Envelope = { oneOf: variants, description: 'A touch-point event: one envelope schema per event type and payload version.' };
  schemas.EventBatch = {
    type: 'object',
    required: ['events'],
    additionalProperties: false,
    properties: {
      events: { type: 'array', minItems: 1, maxItems: limits.maxBatchEvents, items: { $ref: '#/components/schemas/Envelope' } },
    },
  };
  schemas.ImportJobRequest = {
    type: 'object',
    required: ['mapping'],
    properties: {
      mapping: {
        type: 'object',
        description: 'How file rows become events: format, type, columns, filters (see docs/backfill.md)',
        additionalProperties: true,
      },
    },
  };

  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item) as [string, OperationLike][]) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      const isPublic = path.startsWith('/health') || path.startsWith('/docs');
      op.security = isPublic ? [] : [{ 'api-key': [] }, { bearer: [] }];
      const body = BODIES[`${method.toUpperCase()} ${path}`];
      if (body) op.requestBody = { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${body}` } } } };
      const add = (status: number, description: string, headers?: Schema) =>
        (op.responses[status] ??= {
          description,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
          ...(headers ? { headers } : {}),
        });
      if (isPublic) continue;
      add(401, 'no API key, or an unknown or revoked one (checked before the body is read)');
      add(403, 'the key lacks the role this endpoint needs');
      add(
        503,
        'the event store is unavailable, or (with minPosition) a read model has not caught up yet; retry after Retry-After seconds',
        RETRY_AFTER,
      );
      if (op.requestBody?.content?.['application/json']) {
        add(400, 'the body is not valid JSON (malformed_json), not valid UTF-8 (invalid_utf8), or holds a __proto__ key (forbidden_key)');
        add(413, `the body is larger than ${limits.maxBodyBytes} bytes (INGEST_MAX_BODY_BYTES)`);
        add(415, 'the body is not application/json');
        add(422, 'invalid: errors name each field and reason; nothing was written');
      } else if (op.requestBody) {
        add(413, 'the body is larger than the limit');
        add(415, 'the body is not one of the accepted media types');
        add(422, 'the body is missing');
      }
      if (path.includes('{')) {
        add(404, 'not found');
        add(414, `a path parameter is longer than ${MAX_PATH_PARAM_LENGTH} characters`);
      }
      if (/\{|\?|lookup/.test(path) || op.parameters?.some((p) => p.in === 'query')) add(422, 'a parameter is invalid');
    }
  }
  const events = doc.paths['/v1/events']?.post as OperationLike | undefined;
  const batch = doc.paths['/v1/events:batch']?.post as OperationLike | undefined;
  for (const op of [events, batch]) {
    if (!op) continue;
    op.responses[409] ??= {
      description: 'an eventId was already recorded with different content; nothing was written',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
    };
  }
  return doc;
}

type OperationLike = {
  responses: Record<string, unknown>;
  security?: unknown;
  requestBody?: any;
  parameters?: { in: string }[];
};

const BODIES: Record<string, string> = {
  'POST /v1/events': 'Envelope',
  'POST /v1/events:batch': 'EventBatch',
  'POST /v1/imports': 'ImportJobRequest',
};

const RETRY_AFTER = { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer' } } };

const ERROR_BODY: Schema = {
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string', description: 'a machine-readable code, e.g. validation_failed, malformed_json, unauthenticated' },
    message: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer', description: 'the event of the batch' },
          eventId: { type: 'string', description: 'its eventId, cut to 40 characters' },
          field: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
  },
};

// the shapes normaliseIdentifier accepts (libs/domain/src/identity/identifier.ts), per kind
const EMAIL = "^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$";
const OPAQUE_ID = '^[\\x21-\\x7e]{1,200}$';
const EXTERNAL_ID = '^[a-z0-9][a-z0-9._-]{0,63}:[\\x21-\\x7e]{1,200}$';

function identifierSchema(): Schema {
  const value = (kind: (typeof IDENTIFIER_KINDS)[number]): Schema => {
    switch (kind) {
      case 'email':
        return { type: 'string', maxLength: IDENTIFIER_LIMITS.email, pattern: EMAIL, example: 'ana@example.com' };
      case 'phone':
        return {
          type: 'string',
          maxLength: IDENTIFIER_LIMITS.phone,
          pattern: '^\\+[1-9][0-9]{7,14}$',
          description: 'E.164; the number must also be a valid number of its country',
          example: '+31201234567',
        };
      case 'external':
        return { type: 'string', maxLength: IDENTIFIER_LIMITS.external, pattern: EXTERNAL_ID, example: 'shopify:1234' };
      default:
        return { type: 'string', maxLength: IDENTIFIER_LIMITS[kind], pattern: OPAQUE_ID, example: 'CRM-1234' };
    }
  };
  return {
    oneOf: IDENTIFIER_KINDS.map((kind) => ({
      type: 'object',
      required: ['kind', 'value'],
      additionalProperties: false,
      properties: { kind: { type: 'string', enum: [kind] }, value: value(kind) },
    })),
  };
}

function envelopeSchema(type: string, version: number, isLatest: boolean, dataName: string): Schema {
  return {
    type: 'object',
    required: ['eventId', 'type', 'occurredAt', 'source', 'channel', 'customer', 'data', ...(isLatest ? [] : ['schemaVersion'])],
    additionalProperties: false,
    properties: {
      eventId: { type: 'string', format: 'uuid', description: 'chosen by the sender; the idempotency key' },
      type: { type: 'string', enum: [type] },
      schemaVersion: {
        type: 'integer',
        enum: [version],
        description: isLatest ? 'payload version; default: the latest of the type' : 'this older payload version must be named',
      },
      occurredAt: {
        type: 'string',
        format: 'date-time',
        description: 'ISO-8601 with an offset, e.g. 2026-11-20T09:15:00+01:00; not too far in the future',
      },
      source: { type: 'string', maxLength: 100, pattern: '^[a-zA-Z0-9][a-zA-Z0-9._-]*$', description: 'the integration that sent it' },
      channel: { type: 'string', enum: [...CHANNELS] },
      customer: {
        type: 'object',
        required: ['identifiers'],
        additionalProperties: false,
        properties: { identifiers: { type: 'array', minItems: 1, maxItems: 20, items: { $ref: '#/components/schemas/Identifier' } } },
      },
      agentId: { type: 'string', maxLength: 200 },
      correlationId: { type: 'string', maxLength: 200 },
      causationId: { type: 'string', maxLength: 200 },
      data: { $ref: `#/components/schemas/${dataName}` },
    },
  };
}

const dtoName = (ctor: Ctor) => ctor.name.replace(/Dto$/, '');

/**
 * The JSON schema of a payload DTO, read from its class-validator rules. Rules without a JSON-schema
 * equivalent (a real calendar date, money's decimal places) are said in the description; the
 * server still checks them.
 */
function dataSchema(ctor: Ctor, type: string, version: number, schemas: Record<string, Schema>): Schema {
  const schema = objectSchema(ctor, schemas);
  if (type === 'survey.answered' && version === 2) schema.anyOf = [{ required: ['nps'] }, { required: ['csat'] }, { required: ['ces'] }];
  return schema;
}

function objectSchema(ctor: Ctor, schemas: Record<string, Schema>): Schema {
  const byProperty = new Map<string, ValidationMetadata[]>();
  for (const m of getMetadataStorage().getTargetValidationMetadatas(ctor, '', true, false)) {
    byProperty.set(m.propertyName, [...(byProperty.get(m.propertyName) ?? []), m]);
  }
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [name, rules] of byProperty) {
    let optional = false;
    const s: Schema = {};
    let nested: Ctor | undefined;
    let array = false;
    const item: Schema = {};
    for (const r of rules) {
      const c = r.constraints ?? [];
      if (r.type === 'conditionalValidation') optional = true;
      else if (r.type === 'nestedValidation') {
        nested = defaultMetadataStorage.findTypeMetadata(ctor, name)?.typeFunction() as Ctor | undefined;
      } else {
        switch (r.name) {
          case 'isString':
            s.type = 'string';
            break;
          case 'maxLength':
            s.maxLength = c[0];
            break;
          case 'isInt':
            s.type = 'integer';
            break;
          case 'isNumber':
            s.type = 'number';
            break;
          case 'min':
            s.minimum = c[0];
            break;
          case 'max':
            s.maximum = c[0];
            break;
          case 'isBoolean':
            s.type = 'boolean';
            break;
          case 'isIn':
            s.type = 'string';
            s.enum = c[0];
            break;
          case 'matches':
            s.type = 'string';
            s.pattern = (c[0] as RegExp).source;
            break;
          case 'isUrl':
            s.type = 'string';
            s.format = 'uri';
            s.pattern = '^https?://';
            break;
          case 'isArray':
            array = true;
            break;
          case 'arrayMinSize':
            s.minItems = c[0];
            break;
          case 'arrayMaxSize':
            s.maxItems = c[0];
            break;
          case 'money':
            Object.assign(s, { type: 'number', minimum: 0, maximum: 100_000_000_000, description: 'at most 4 decimal places' });
            break;
          case 'calendarDate':
            Object.assign(s, { type: 'string', format: 'date' });
            break;
          case 'isoInstant':
            Object.assign(s, { type: 'string', format: 'date-time' });
            break;
          default:
            break;
        }
      }
    }
    if (nested) {
      const ref = nested === IdentifierDto ? 'Identifier' : dtoName(nested);
      if (!schemas[ref]) schemas[ref] = objectSchema(nested, schemas);
      Object.assign(item, { $ref: `#/components/schemas/${ref}` });
    }
    if (array) properties[name] = { type: 'array', ...pick(s, ['minItems', 'maxItems']), items: nested ? item : {} };
    else properties[name] = nested ? item : s;
    if (!optional) required.push(name);
  }
  return { type: 'object', ...(required.length ? { required } : {}), additionalProperties: false, properties };
}

const pick = (s: Schema, keys: string[]) => Object.fromEntries(keys.filter((k) => k in s).map((k) => [k, s[k]]));
