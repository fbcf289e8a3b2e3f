import { DomainValidationError } from '../errors';
import { IDENTIFIER_LIMITS, identifierKey, normaliseIdentifier, parseIdentifierKey } from './identifier';

describe('identifier normalisation', () => {
  it.each([
    ['email', '  Ana.Silva@Example.COM ', 'ana.silva@example.com'],
    ['phone', '+31 20 123 4567', '+31201234567'],
    ['phone', '+1 (415) 555-2671', '+14155552671'],
    ['crm', '  CRM-00042 ', 'CRM-00042'],
    ['external', 'Zendesk:user/991', 'zendesk:user/991'],
    ['cookie', 'ck_8f3a', 'ck_8f3a'],
  ])('%s %j -> %j', (kind, raw, expected) => {
    expect(normaliseIdentifier(kind, raw).value).toBe(expected);
  });

  it('uses the default region for national phone numbers only when configured', () => {
    expect(normaliseIdentifier('phone', '020 123 4567', 'p', { defaultPhoneRegion: 'NL' }).value).toBe('+31201234567');
    expect(() => normaliseIdentifier('phone', '020 123 4567', 'p')).toThrow(/international format/);
  });

  it.each([
    ['email', 'not-an-email', 'is not a valid email address'],
    ['email', '   ', 'must not be empty'],
    ['phone', '+31 12', 'is not a valid phone number'],
    ['crm', 'has space', 'printable characters without spaces'],
    ['external', 'no-namespace', 'namespace:id'],
    ['shoe-size', '42', 'unknown identifier kind'],
  ])('refuses %s %j with a reason naming the field', (kind, raw, reason) => {
    try {
      normaliseIdentifier(kind, raw, 'customer.identifiers.0.value');
      throw new Error('expected a failure');
    } catch (e) {
      expect(e).toBeInstanceOf(DomainValidationError);
      expect((e as DomainValidationError).errors[0].field).toBe('customer.identifiers.0.value');
      expect((e as DomainValidationError).errors[0].reason).toContain(reason);
    }
  });

  it('states the length limit of each kind in one message, whatever the length', () => {
    const reason = (kind: string, raw: string) => {
      try {
        normaliseIdentifier(kind, raw);
      } catch (e) {
        return (e as DomainValidationError).errors[0].reason;
      }
      return 'accepted';
    };
    expect(reason('crm', 'C'.repeat(200))).toBe('accepted');
    for (const n of [201, 320, 321, 5000]) expect(reason('crm', 'C'.repeat(n))).toBe('must be 1-200 printable characters without spaces');
    expect(reason('email', `${'a'.repeat(64)}@${'b'.repeat(60)}.example.com`)).toBe('accepted');
    for (const n of [243, 1000]) expect(reason('email', `${'a'.repeat(n)}@example.com`)).toBe('must be at most 254 characters');
    expect(IDENTIFIER_LIMITS).toMatchObject({ email: 254, crm: 200, account: 200, cookie: 200, device: 200, external: 265 });
  });

  it('refuses a non-string value', () => {
    expect(() => normaliseIdentifier('email', 42)).toThrow(/must be a string/);
  });

  it('round-trips registry keys', () => {
    const id = parseIdentifierKey('email:Ana@Example.com');
    expect(identifierKey(id)).toBe('email:ana@example.com');
    expect(() => parseIdentifierKey('nokind')).toThrow(DomainValidationError);
  });
});
