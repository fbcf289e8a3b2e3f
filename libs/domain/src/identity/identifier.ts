import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { DomainValidationError } from '../errors';

export const IDENTIFIER_KINDS = ['email', 'phone', 'crm', 'account', 'cookie', 'device', 'external'] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

/** A normalised customer identifier. `value` is always in canonical form (see normaliseIdentifier). */
export interface Identifier {
  kind: IdentifierKind;
  value: string;
}

export interface NormaliseOptions {
  /** Region used for phone numbers written without a country code (e.g. "NL"). Absent: such numbers are rejected. */
  defaultPhoneRegion?: string;
}

// Deliberately simpler than RFC 5322: what real mailbox providers accept, no quoted local parts.
const EMAIL = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const OPAQUE_ID = /^[\x21-\x7e]{1,200}$/; // printable ASCII, no spaces
const EXTERNAL_ID = /^[a-z0-9][a-z0-9._-]{0,63}:[\x21-\x7e]{1,200}$/;

/** Longest value of each kind, after trimming (external: a 64-character namespace, ':', a 200-character id). */
export const IDENTIFIER_LIMITS: Record<IdentifierKind, number> = {
  email: 254,
  phone: 64,
  crm: 200,
  account: 200,
  cookie: 200,
  device: 200,
  external: 265,
};
const OPAQUE_REASON = 'must be 1-200 printable characters without spaces';
const EXTERNAL_REASON = 'must be "namespace:id" (namespace 1-64 of a-z 0-9 . _ -, id 1-200 printable characters without spaces)';
/** The one answer to a value over its kind's limit, whatever its length. */
const TOO_LONG: Record<IdentifierKind, string> = {
  email: `must be at most ${IDENTIFIER_LIMITS.email} characters`,
  phone: `must be at most ${IDENTIFIER_LIMITS.phone} characters`,
  crm: OPAQUE_REASON,
  account: OPAQUE_REASON,
  cookie: OPAQUE_REASON,
  device: OPAQUE_REASON,
  external: EXTERNAL_REASON,
};

/**
 * Canonical form of an identifier, so the same person is recognised whatever the source wrote:
 * emails lower-cased and trimmed, phones in E.164, opaque ids trimmed, external ids namespaced
 * (`namespace:id`, namespace lower-cased). A value that cannot be normalised is an error, never dropped.
 */
export function normaliseIdentifier(kind: string, raw: unknown, field = 'identifier', options: NormaliseOptions = {}): Identifier {
  const fail = (reason: string): never => {
    throw new DomainValidationError([{ field, reason }]);
  };
  if (!(IDENTIFIER_KINDS as readonly string[]).includes(kind)) {
    fail(`unknown identifier kind "${String(kind).slice(0, 40)}"; expected one of ${IDENTIFIER_KINDS.join(', ')}`);
  }
  if (typeof raw !== 'string') return fail('must be a string');
  const trimmed = raw.trim();
  if (trimmed.length === 0) return fail('must not be empty');
  if (trimmed.length > IDENTIFIER_LIMITS[kind as IdentifierKind]) return fail(TOO_LONG[kind as IdentifierKind]);
  switch (kind as IdentifierKind) {
    case 'email': {
      const email = trimmed.toLowerCase();
      if (!EMAIL.test(email)) fail('is not a valid email address');
      return { kind: 'email', value: email };
    }
    case 'phone': {
      const phone = parsePhoneNumberFromString(trimmed, options.defaultPhoneRegion as CountryCode | undefined);
      if (!phone || !phone.isValid()) {
        fail(
          options.defaultPhoneRegion
            ? 'is not a valid phone number'
            : 'is not a valid phone number in international format (e.g. +31201234567)',
        );
      }
      return { kind: 'phone', value: phone!.number };
    }
    case 'external': {
      const colon = trimmed.indexOf(':');
      const value = colon > 0 ? trimmed.slice(0, colon).toLowerCase() + trimmed.slice(colon) : trimmed;
      if (!EXTERNAL_ID.test(value)) fail(EXTERNAL_REASON);
      return { kind: 'external', value };
    }
    default: {
      if (!OPAQUE_ID.test(trimmed)) fail(OPAQUE_REASON);
      return { kind: kind as IdentifierKind, value: trimmed };
    }
  }
}

/** The registry key of an identifier: `kind:value`. */
export function identifierKey(id: Identifier): string {
  return `${id.kind}:${id.value}`;
}

/** Parses `kind:value` (as used in `?identifier=email:ana@example.com`). */
export function parseIdentifierKey(key: string, options: NormaliseOptions = {}): Identifier {
  const colon = key.indexOf(':');
  if (colon <= 0) throw new DomainValidationError([{ field: 'identifier', reason: 'must be "kind:value", e.g. email:ana@example.com' }]);
  return normaliseIdentifier(key.slice(0, colon), key.slice(colon + 1), 'identifier', options);
}
