/**
 * Stream naming and metadata mapping of the EventStoreDB adapter (see docs/eventstoredb.md).
 *
 * Our streams keep the names the platform gives them (`customer-<id>`, ...). The adapter's own
 * bookkeeping lives in streams under one internal prefix that the global log hides, like the
 * server's `$`-prefixed system streams.
 */
export const INTERNAL_STREAM_PREFIX = 'cem-internal-';

/** Reservation stream of one eventId (store-wide idempotency). */
export const eventIdStream = (eventId: string): string => `${INTERNAL_STREAM_PREFIX}eventid-${eventId}`;

/** Reservation stream of one normalised identifier key (`kind:value`), used by the identity registry. */
export const identifierStream = (identifierKey: string): string => `${INTERNAL_STREAM_PREFIX}identifier-${identifierKey}`;

export function isHiddenStream(streamId: string): boolean {
  return streamId.startsWith('$') || streamId.startsWith(INTERNAL_STREAM_PREFIX);
}

export function isSystemEventType(type: string): boolean {
  return type.startsWith('$');
}

export const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Server-side stream-name filter of the global-log subscription: neither system nor internal streams. */
export const VISIBLE_STREAM_REGEX = `^(?!\\$|${escapeRegex(INTERNAL_STREAM_PREFIX)})`;

/**
 * Port metadata -> EventStoreDB custom metadata. `correlationId` / `causationId` travel as the
 * server's own `$correlationId` / `$causationId` (what its projections, e.g. `$by_correlation_id`,
 * read); everything else (schemaVersion, occurredAt, ...) as is. `recordedAt` is never stored: it is
 * the server's `created` timestamp.
 */
export function toEsdbMetadata(metadata: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (v === undefined) continue;
    if (k === 'correlationId') out.$correlationId = v;
    else if (k === 'causationId') out.$causationId = v;
    else out[k] = v;
  }
  return out;
}

export function fromEsdbMetadata(metadata: unknown): Record<string, unknown> {
  if (!metadata || typeof metadata !== 'object' || metadata instanceof Uint8Array) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata as Record<string, unknown>)) {
    if (k === '$correlationId') out.correlationId = v;
    else if (k === '$causationId') out.causationId = v;
    else out[k] = v;
  }
  return out;
}
