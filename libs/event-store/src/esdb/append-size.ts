import type { EventData } from '../port';
import { toEsdbMetadata } from './naming';

/** EventStoreDB's default MaxAppendSize (1 MiB); a server may be configured lower or higher. */
export const DEFAULT_MAX_APPEND_SIZE = 1024 * 1024;

/**
 * What an event counts toward the server's MaxAppendSize, computed as the server does
 * (`Event.SizeOnDisk`: data bytes + metadata bytes + 2 bytes per character of the type) on the bytes
 * the client sends (`jsonEvent`: JSON of the data and of the custom metadata).
 */
export function esdbEventSize(event: EventData): number {
  const data = Buffer.byteLength(JSON.stringify(event.data ?? null), 'utf8');
  const metadata = Buffer.byteLength(JSON.stringify(toEsdbMetadata(event.metadata)), 'utf8');
  return data + metadata + event.type.length * 2;
}

/**
 * Splits events, in order, into runs whose summed size stays within `limit`. An event larger than
 * the limit on its own is the caller's to refuse before anything is written (see `oversized`).
 */
export function splitBySize<T>(items: T[], sizeOf: (item: T) => number, limit: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const s = sizeOf(item);
    if (current.length > 0 && size + s > limit) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += s;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
