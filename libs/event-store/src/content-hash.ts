import { hash } from 'node:crypto';
import type { EventData } from './port';

/** JSON with object keys sorted, so equal content gives equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      out += `${i > 0 ? ',' : ''}${v === undefined ? 'null' : canonicalJson(v)}`;
    }
    return `${out}]`;
  }
  // one string built in place (no array of parts per object): this runs for every appended event
  const keys = Object.keys(value as object).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
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
  // one-shot hash of one string (no Hash object, one native call): the same bytes as hashing the parts in turn
  return hash('sha1', `${event.type}\n${canonicalJson(event.data)}\n${String(occurredAt)}`, 'base64');
}
