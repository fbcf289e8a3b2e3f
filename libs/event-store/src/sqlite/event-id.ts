const HYPHEN = 0x2d;
/** value of each lower-case hex digit's char code, -1 for every other code below 128 */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x61 + i] = 10 + i;

/**
 * A lower-case UUID is stored as its 16 bytes; any other id as text, so every id reads back as written.
 * Read by char codes (no regex test, hyphen-stripped copy and hex decode per appended event): the same
 * ids count as UUIDs as with /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.
 */
export function encodeEventId(eventId: string): Buffer | string {
  if (
    eventId.length !== 36 ||
    eventId.charCodeAt(8) !== HYPHEN ||
    eventId.charCodeAt(13) !== HYPHEN ||
    eventId.charCodeAt(18) !== HYPHEN ||
    eventId.charCodeAt(23) !== HYPHEN
  )
    return eventId;
  const out = Buffer.allocUnsafe(16);
  for (let i = 0, j = 0; j < 16; i += 2, j++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) i++;
    const hi = eventId.charCodeAt(i);
    const lo = eventId.charCodeAt(i + 1);
    const h = hi < 128 ? HEX_VALUE[hi] : -1;
    const l = lo < 128 ? HEX_VALUE[lo] : -1;
    if (h < 0 || l < 0) return eventId;
    out[j] = (h << 4) | l;
  }
  return out;
}

export function decodeEventId(stored: Buffer | string): string {
  if (typeof stored === 'string') return stored;
  const h = stored.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
