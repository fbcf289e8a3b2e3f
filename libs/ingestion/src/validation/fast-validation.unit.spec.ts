import { validateSync } from 'class-validator';
import { envelope } from '../../../../test/support/envelopes';
import { EnvelopeDto } from '../dto/envelope.dto';
import { PAYLOAD_DTOS } from '../dto/payload.dtos';
import { asDto, passesFast } from './fast-validation';

const OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true };
const fullVerdict = (dto: new () => object, plain: Record<string, unknown>) => validateSync(asDto(dto, plain), OPTIONS).length === 0;

/** Small deterministic PRNG so the mutations are the same on every run. */
function prng(seed: number) {
  return () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

const samples: [string, Record<string, unknown>][] = [
  ['contact.handled', { direction: 'inbound', handleSeconds: 300, waitSeconds: 20, resolved: true, notes: 'x' }],
  ['purchase.completed', { orderId: 'o1', amount: 19.99, currency: 'EUR', items: 2 }],
  ['survey.answered', { nps: 7, csat: 4, comment: 'ok' }],
  ['profile.updated', { firstName: 'Ana', birthDate: '1992-02-29', address: { city: 'Lisboa', country: 'PT' } }],
  ['subscription.changed', { subscriptionId: 's1', change: 'upgrade', toPlan: 'gold', monthlyAmount: 12.5, currency: 'EUR' }],
  ['refund.issued', { amount: 99_999_999_999.9999, currency: 'EUR' }],
  ['identifiers.linked', { identifiers: [{ kind: 'crm', value: 'C-1' }] }],
  ['web.visited', { url: 'https://example.com/a', pageViews: 3 }],
];
const WEIRD: unknown[] = [undefined, null, '', 'text', -1, 0, 1.5, 1e9, true, [], [1], {}, { a: 1 }, 'https://x.y', 'EUR', 'inbound'];
// dates (real, impossible, out of shape) and amounts (in bounds, beyond, too precise): the rules of issue 10
const DATES: unknown[] = [
  '2026-02-30T00:00:00Z',
  '2024-02-29T10:00:00+01:00',
  '2026-11-20T24:00:00Z',
  '2026-11-20T09:15:00+24:00',
  '2026-11-20T09:15:00.123456789-03:30',
  '1992-02-29',
  '1990-02-30',
  '1990-13-01',
  '1990-1-01',
];
const AMOUNTS: unknown[] = [1e308, 1e21, 1e11, 100_000_000_000.0001, 0.0001, 1e-7, 1.00001, -0, Number.MAX_SAFE_INTEGER, '12.5'];

describe('fast validation verdict', () => {
  it('agrees with class-validator on valid events and on thousands of mutations of them', () => {
    const rnd = prng(42);
    let checked = 0;
    for (const [type, data] of samples) {
      const dto = PAYLOAD_DTOS[type as keyof typeof PAYLOAD_DTOS][type === 'survey.answered' ? 2 : 1];
      expect(passesFast(dto, data)).toBe(true);
      const env = envelope({ type, data });
      expect(passesFast(EnvelopeDto, env)).toBe(true);
      for (let i = 0; i < 400; i++) {
        // mutate one field of the payload or the envelope to an odd value, or add an unknown one
        const target = rnd() < 0.5 ? { ...data } : { ...env, customer: { identifiers: [{ ...(env.customer.identifiers[0] as object) }] } };
        const keys = [...Object.keys(target), 'extra'];
        const key = keys[Math.floor(rnd() * keys.length)];
        const pool = rnd() < 0.5 ? WEIRD : rnd() < 0.5 ? DATES : AMOUNTS;
        (target as Record<string, unknown>)[key] = pool[Math.floor(rnd() * pool.length)];
        const tdto = 'eventId' in target ? EnvelopeDto : dto;
        // the fast path may say "invalid" when unsure, but never "valid" when class-validator disagrees
        if (passesFast(tdto, target)) expect(fullVerdict(tdto, target)).toBe(true);
        else if (fullVerdict(tdto, target))
          expect(`${type}.${key}=${JSON.stringify(target[key as keyof typeof target])}`).toBe(
            'a mutation the fast path needlessly refused',
          );
        checked++;
      }
    }
    expect(checked).toBe(samples.length * 400);
  });
});
