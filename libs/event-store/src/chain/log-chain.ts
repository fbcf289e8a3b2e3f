import { hash } from 'node:crypto';

/**
 * The tamper-evidence chain over the global log. Link n (1, 2, ...) is
 * SHA-256(link n-1 ‖ n ‖ the event's stored fields), so changing, removing or inserting an event
 * breaks every later link, and the head hash printed by `cem log head` vouches for the whole log.
 *
 * What is hashed is what the store keeps and any store can give back: the event id, stream,
 * revision, type, the JSON text of data and metadata (as `JSON.stringify` writes it, which is how
 * the embedded store stores it and how a parsed value re-serialises), and the recorded-at instant.
 * The log position is left out on purpose: positions differ between stores, and the link number n
 * already fixes the order, so a log exported from one store chains identically in another.
 */
export interface ChainedFields {
  eventId: string;
  streamId: string;
  revision: number;
  type: string;
  /** JSON text of the payload as stored */
  dataJson: string;
  /** JSON text of the metadata as stored */
  metadataJson: string;
  recordedAt: string;
}

/** The link before the first event: 32 zero bytes. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** Bytes hashed for one link (previous link, then the text), reused: this runs per appended event. */
let scratch = Buffer.allocUnsafe(16 * 1024);

const prefixed = (field: string): string => `${Buffer.byteLength(field)}:${field}`;

/** Each field is length-prefixed, so no choice of field contents can shift bytes from one field to the next. */
export function chainLink(previous: Buffer, seq: number, e: ChainedFields): Buffer {
  // one string and one native hash call; no array of fields, no Buffer per text and none for the concatenation
  const revision = String(e.revision);
  const text =
    `${seq}\n` +
    prefixed(e.eventId) +
    prefixed(e.streamId) +
    `${revision.length}:${revision}` +
    prefixed(e.type) +
    prefixed(e.dataJson) +
    prefixed(e.metadataJson) +
    prefixed(e.recordedAt);
  const most = previous.length + text.length * 3; // UTF-8 takes at most 3 bytes per UTF-16 unit
  // a rare large event gets a buffer of its own, so the reused one stays small
  const bytes = most <= scratch.length ? scratch : most <= 256 * 1024 ? (scratch = Buffer.allocUnsafe(most)) : Buffer.allocUnsafe(most);
  previous.copy(bytes, 0);
  const length = previous.length + bytes.write(text, previous.length, 'utf8');
  // one-shot hash (no Hash object): the same digest as updating with `previous`, then `text`
  return hash('sha256', bytes.subarray(0, length), 'buffer');
}

/** Where the chain ends: how many events it covers, the last one's position and its link. */
export interface ChainHead {
  seq: number;
  position: number;
  hash: string;
}

/** One event of the log as the chain sees it: its stored fields and the link stored next to it. */
export interface ChainedRow extends ChainedFields {
  position: number;
  /** the link number stored with the event; null when the event has none (written around the store) */
  seq: number | null;
  /** the link stored with the event (hex); null when it has none */
  hash: string | null;
}

export type ChainProblem =
  | { kind: 'altered'; position: number; seq: number; eventId: string; reason: string }
  | { kind: 'inserted'; position: number; eventId: string; reason: string }
  | { kind: 'missing'; beforePosition: number; seqs: [number, number]; reason: string };

/**
 * Walks stored rows in log order and finds the first place where the stored chain and the events
 * disagree. Pure and incremental: feed rows page by page, then call `end()`.
 *
 * How a problem is told apart: a row without a link, or with a link number already used, was
 * inserted around the store; a link number that jumps ahead means events are missing before it;
 * a row whose recomputed link differs from its stored one was altered, unless the next row chains
 * straight from the previous link with the same number (then this row was inserted with a copied
 * number). Only a rewrite of every later link (and the head) escapes this, which is what anchoring
 * the head hash outside the store (`cem log head`, `cem verify-log --expect-head`) is for.
 */
export class ChainVerifier {
  private previous: Buffer = GENESIS_HASH;
  private seq = 0;
  private lastPosition = 0;
  /** a row whose link did not recompute: the next row tells whether it was altered or inserted */
  private pending?: ChainedRow;
  problem?: ChainProblem;
  /** rows looked at, up to and including the first problem */
  rowsSeen = 0;
  /** the verified link at `watchSeq`, once the walk got there (to compare with an anchored head) */
  watched?: string;

  constructor(private readonly watchSeq?: number) {}

  /** Feeds the next rows in log order; returns false once a problem is found (stop reading). */
  push(rows: ChainedRow[]): boolean {
    for (const row of rows) {
      if (this.problem) return false;
      this.rowsSeen++;
      this.step(row);
    }
    return !this.problem;
  }

  private step(row: ChainedRow): void {
    const expected = this.seq + 1;
    if (this.pending) {
      const suspect = this.pending;
      this.pending = undefined;
      // Does this row chain straight from the link before the suspect? Then the suspect is extra.
      if (row.seq === expected && row.hash !== null && chainLink(this.previous, expected, row).toString('hex') === row.hash) {
        this.problem = {
          kind: 'inserted',
          position: suspect.position,
          eventId: suspect.eventId,
          reason: `event at position ${suspect.position} is not part of the chain: the next event chains from the one before it`,
        };
        return;
      }
      this.problem = {
        kind: 'altered',
        position: suspect.position,
        seq: expected,
        eventId: suspect.eventId,
        reason: `event #${expected} at position ${suspect.position} does not match its stored hash: its stored bytes were changed`,
      };
      return;
    }
    if (row.seq === null || row.hash === null) {
      this.problem = {
        kind: 'inserted',
        position: row.position,
        eventId: row.eventId,
        reason: `event at position ${row.position} has no chain link: it was written around the event store`,
      };
      return;
    }
    if (row.seq < expected) {
      this.problem = {
        kind: 'inserted',
        position: row.position,
        eventId: row.eventId,
        reason: `event at position ${row.position} repeats link #${row.seq} (expected #${expected}): it was inserted`,
      };
      return;
    }
    if (row.seq > expected) {
      const last = row.seq - 1;
      this.problem = {
        kind: 'missing',
        beforePosition: row.position,
        seqs: [expected, last],
        reason: `event${last > expected ? `s #${expected}-#${last} are` : ` #${expected} is`} missing before position ${row.position} (after position ${this.lastPosition})`,
      };
      return;
    }
    const recomputed = chainLink(this.previous, expected, row);
    if (recomputed.toString('hex') !== row.hash) {
      // decided by the next row (or by end(): the last row can only have been altered)
      this.pending = row;
      return;
    }
    this.previous = recomputed;
    this.seq = expected;
    if (expected === this.watchSeq) this.watched = recomputed.toString('hex');
    this.lastPosition = row.position;
  }

  /** Call after the last row; returns the verified head or the first problem. */
  end(): { ok: true; head: ChainHead } | { ok: false; problem: ChainProblem; verified: ChainHead } {
    if (this.pending && !this.problem) {
      const row = this.pending;
      this.pending = undefined;
      const expected = this.seq + 1;
      this.problem = {
        kind: 'altered',
        position: row.position,
        seq: expected,
        eventId: row.eventId,
        reason: `event #${expected} at position ${row.position} does not match its stored hash: its stored bytes were changed`,
      };
    }
    const verified = { seq: this.seq, position: this.lastPosition, hash: this.previous.toString('hex') };
    return this.problem ? { ok: false, problem: this.problem, verified } : { ok: true, head: verified };
  }
}
