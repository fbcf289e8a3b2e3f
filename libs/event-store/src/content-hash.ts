import { createHash } from 'node:crypto';
import type { EventData } from './port';

/** JSON with object keys sorted, so equal content gives equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const keys = Object.keys(value as object).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * What makes two appends of one eventId "the same event": its type, payload and, when present,
 * when it occurred. Metadata the platform adds (resolved customer id, recording time) is left out.
 * A writer that stores the payload transformed (encrypted per customer, so the same content may be
 * stored differently) states the digest of the content itself in `metadata.contentDigest`.
 */
export function contentHash(event: EventData): string {
  const digest = (event.metadata as { contentDigest?: unknown } | undefined)?.contentDigest;
  if (typeof digest === 'string') return digest;
  const occurredAt = (event.metadata as { occurredAt?: unknown } | undefined)?.occurredAt ?? '';
  return createHash('sha1')
    .update(event.type)
    .update('\n')
    .update(canonicalJson(event.data))
    .update('\n')
    .update(String(occurredAt))
    .digest('base64');
}
