import type { Identifier } from '@cem/domain';
import type { ResolveRequest } from '../src/port';

/** Test helpers of the identity registry specs: numbered emails and resolve requests with fresh event ids. */
export const email = (n: number | string): Identifier => ({ kind: 'email', value: `user${n}@example.com` });

let seq = 0;
export const request = (...identifiers: Identifier[]): ResolveRequest => ({
  identifiers,
  triggeringEventId: `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
  occurredAt: '2026-01-01T00:00:00.000Z',
  source: 'test',
});
