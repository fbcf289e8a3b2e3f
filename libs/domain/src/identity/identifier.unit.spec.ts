import { DomainValidationError } from '../errors';
import { identifierKey, normaliseIdentifier, parseIdentifierKey } from './identifier';

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

  it('refuses a non-string value', () => {
    expect(() => normaliseIdentifier('email', 42)).toThrow(/must be a string/);
  });

  it('round-trips registry keys', () => {
    const id = parseIdentifierKey('email:Ana@Example.com');
    expect(identifierKey(id)).toBe('email:ana@example.com');
    expect(() => parseIdentifierKey('nokind')).toThrow(DomainValidationError);
  });
});
