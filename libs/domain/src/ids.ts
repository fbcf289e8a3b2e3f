import { hash } from 'node:crypto';

/**
 * A name-based UUID (RFC 4122 version 5 layout, SHA-1) from its parts: the same parts always give
 * the same id, so events the platform derives (registrations, merges, imported rows) are idempotent.
 */
export function deterministicUuid(...parts: string[]): string {
  // one-shot hash (no Hash object): derived ids are made for every imported row
  const h = hash('sha1', parts.join('\u0000'), 'buffer');
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
