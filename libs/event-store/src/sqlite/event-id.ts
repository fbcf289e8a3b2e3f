const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A lower-case UUID is stored as its 16 bytes; any other id as text, so every id reads back as written. */
export function encodeEventId(eventId: string): Buffer | string {
  return UUID.test(eventId) ? Buffer.from(eventId.replace(/-/g, ''), 'hex') : eventId;
}

export function decodeEventId(stored: Buffer | string): string {
  if (typeof stored === 'string') return stored;
  const h = stored.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
