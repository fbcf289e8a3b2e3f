import type { ValidationError } from 'class-validator';
import {
  DomainValidationError,
  TOUCHPOINT_CATALOGUE,
  isTouchpointType,
  normaliseIdentifier,
  parseIsoInstant,
  upcast,
  type FieldError,
  type Identifier,
  type TouchpointCommand,
} from '@cem/domain';
import { EnvelopeDto } from '../dto/envelope.dto';
import { PAYLOAD_DTOS, PAYLOAD_RULES } from '../dto/payload.dtos';
import { validateDto } from './fast-validation';

export interface ValidationOptions {
  /** the current instant (injected so tests and backfills control it) */
  now: () => number;
  /** how far in the future occurredAt may be (clock skew between systems) */
  maxFutureSkewMs: number;
  defaultPhoneRegion?: string;
}

export type ValidationOutcome = { ok: true; command: TouchpointCommand } | { ok: false; errors: FieldError[] };

const VALIDATOR_OPTIONS = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: true },
};
const TYPE_CONSTRAINTS = new Set(['isInt', 'isNumber', 'isString', 'isBoolean', 'isObject', 'isArray', 'nestedValidation']);
const EARLIEST = parseIsoInstant('1900-01-01T00:00:00Z')!;

/** Flattens class-validator's tree into dotted fields with readable reasons. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.value === undefined && e.constraints && !e.constraints.whitelistValidation) {
      out.push({ field, reason: 'is required' });
      continue;
    }
    const constraints = Object.entries(e.constraints ?? {});
    // a value of the wrong type breaks its range and length rules too: name only the type
    const typeErrors = constraints.filter(([key]) => TYPE_CONSTRAINTS.has(key));
    for (const [key, message] of typeErrors.length > 0 ? typeErrors : constraints) {
      if (key === 'whitelistValidation') out.push({ field, reason: 'is not a known field of this type' });
      else out.push({ field, reason: message.startsWith(`${e.property} `) ? message.slice(e.property.length + 1) : message });
    }
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Edge validation of one raw envelope: shape (DTOs), payload of its type and version, time rules,
 * identifier normalisation, then upcasting to the latest payload version. Reports every problem found,
 * each with its field, so a sender can fix an event in one round trip.
 */
export function validateEnvelope(raw: unknown, options: ValidationOptions): ValidationOutcome {
  if (!isPlainObject(raw)) return { ok: false, errors: [{ field: '', reason: 'an event must be a JSON object' }] };
  const errors: FieldError[] = flattenValidationErrors(validateDto(EnvelopeDto, raw, VALIDATOR_OPTIONS));

  const type = raw.type;
  let version: number | undefined;
  if (typeof type === 'string' && isTouchpointType(type)) {
    const entry = TOUCHPOINT_CATALOGUE[type];
    version = raw.schemaVersion === undefined ? entry.latestVersion : (raw.schemaVersion as number);
    if (!entry.acceptedVersions.includes(version)) {
      if (!errors.some((e) => e.field === 'schemaVersion')) {
        errors.push({ field: 'schemaVersion', reason: `${type} accepts versions ${entry.acceptedVersions.join(', ')}` });
      }
      version = undefined;
    } else if (isPlainObject(raw.data)) {
      const dto = PAYLOAD_DTOS[type][version];
      errors.push(...flattenValidationErrors(validateDto(dto, raw.data, VALIDATOR_OPTIONS), 'data'));
      if (version === entry.latestVersion) {
        for (const [field, reason] of PAYLOAD_RULES[type]?.(raw.data, { now: options.now() }) ?? [])
          errors.push({ field: `data.${field}`, reason });
      }
    }
  }

  let occurredAt: string | undefined;
  if (typeof raw.occurredAt === 'string' && !errors.some((e) => e.field === 'occurredAt')) {
    const t = parseIsoInstant(raw.occurredAt); // the DTO (IsoInstant) refused what this cannot parse
    if (t === undefined) errors.push({ field: 'occurredAt', reason: 'is not a real date-time' });
    else if (t > options.now() + options.maxFutureSkewMs)
      errors.push({ field: 'occurredAt', reason: `is more than ${Math.round(options.maxFutureSkewMs / 1000)} s in the future` });
    else if (t < EARLIEST) errors.push({ field: 'occurredAt', reason: 'is before 1900' });
    else occurredAt = isCanonicalInstant(raw.occurredAt) ? raw.occurredAt : new Date(t).toISOString();
  }

  const identifiers = normaliseAll(
    (raw.customer as { identifiers?: unknown } | undefined)?.identifiers,
    'customer.identifiers',
    options,
    errors,
  );
  let data = raw.data as Record<string, unknown>;
  if (type === 'identifiers.linked' && isPlainObject(data)) {
    data = { ...data, identifiers: normaliseAll(data.identifiers, 'data.identifiers', options, errors) };
  }

  if (errors.length > 0 || version === undefined || occurredAt === undefined) return { ok: false, errors: dedupe(errors) };
  const lifted = upcast(type as string, version, data);
  return {
    ok: true,
    command: {
      eventId: (raw.eventId as string).toLowerCase(),
      type: type as TouchpointCommand['type'],
      schemaVersion: lifted.schemaVersion,
      occurredAt,
      source: raw.source as string,
      channel: raw.channel as TouchpointCommand['channel'],
      identifiers,
      agentId: raw.agentId as string | undefined,
      correlationId: raw.correlationId as string | undefined,
      causationId: raw.causationId as string | undefined,
      data: lifted.data as TouchpointCommand['data'],
    },
  };
}

/**
 * Whether an instant parseIsoInstant accepted (from 1900 on) is already written as toISOString writes
 * it, so the canonical text is the text itself (a Date and a new string per event saved). The only
 * 24-character form ending in Z that it accepts is `YYYY-MM-DDTHH:MM:SS.sssZ` with real calendar and
 * clock values, and toISOString writes exactly those digits back for years 1900-9999.
 */
function isCanonicalInstant(text: string): boolean {
  return text.length === 24 && text.charCodeAt(23) === 90; // Z
}

function normaliseAll(list: unknown, field: string, options: ValidationOptions, errors: FieldError[]): Identifier[] {
  if (!Array.isArray(list)) return [];
  const out: Identifier[] = [];
  list.forEach((item, i) => {
    if (!isPlainObject(item) || typeof item.kind !== 'string') return; // shape errors come from the DTO
    try {
      out.push(normaliseIdentifier(item.kind, item.value, `${field}.${i}.value`, { defaultPhoneRegion: options.defaultPhoneRegion }));
    } catch (e) {
      if (!(e instanceof DomainValidationError)) throw e;
      for (const err of e.errors) if (!errors.some((x) => x.field === err.field || x.field === `${field}.${i}.kind`)) errors.push(err);
    }
  });
  return out;
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.field}\u0000${e.reason}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}
