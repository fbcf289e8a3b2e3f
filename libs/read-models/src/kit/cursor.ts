/*
 * Opaque keyset cursors shared by every paged query: a cursor is the sort key of the last row
 * returned, as base64url JSON, and a query checks its shape before trusting it.
 */

export interface Page<T> {
  items: T[];
  /** pass back as `cursor` for the next page; absent on the last page */
  nextCursor?: string;
}

export const encodeCursor = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

export class InvalidCursorError extends Error {
  constructor() {
    super('the cursor is not one this endpoint returned');
    this.name = 'InvalidCursorError';
  }
}

export function decodeCursor(cursor: string, check: (parts: unknown[]) => boolean): unknown[] {
  try {
    const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && check(parts)) return parts;
  } catch {
    // fall through
  }
  throw new InvalidCursorError();
}
