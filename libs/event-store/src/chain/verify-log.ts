import { ChainVerifier, type ChainedRow, type ChainHead, type ChainProblem } from './log-chain';

/** A log that keeps the chain next to its events (today the embedded store). */
export interface ChainedLog {
  chainHead(): ChainHead;
  readChainRows(after: number, maxCount: number): ChainedRow[];
  headPosition(): Promise<number>;
}

export interface VerifyLogProgress {
  eventsChecked: number;
  position: number;
  headPosition: number;
  elapsedMs: number;
}

/** A head printed earlier by `cem log head` and kept outside the store: link `seq` must still be `hash`. */
export interface AnchoredHead {
  seq: number;
  hash: string;
}

export type VerifyLogProblem = ChainProblem | { kind: 'anchor'; seq: number; reason: string };

export type VerifyLogResult =
  | { ok: true; head: ChainHead; eventsChecked: number; elapsedMs: number }
  | { ok: false; problem: VerifyLogProblem; verified: ChainHead; eventsChecked: number; elapsedMs: number };

/**
 * Walks the whole log in pages, recomputing the chain, and stops at the first problem. Yields to
 * the event loop between pages so progress can be printed and a signal can stop it.
 */
export async function verifyLog(
  log: ChainedLog,
  opts: { pageSize?: number; onProgress?: (p: VerifyLogProgress) => void; now?: () => number; expectHead?: AnchoredHead } = {},
): Promise<VerifyLogResult> {
  const now = opts.now ?? Date.now;
  const started = now();
  const pageSize = opts.pageSize ?? 5000;
  const headPosition = await log.headPosition();
  const verifier = new ChainVerifier(opts.expectHead?.seq);
  let after = 0;
  let eventsChecked = 0;
  for (;;) {
    const rows = log.readChainRows(after, pageSize);
    if (rows.length === 0) break;
    const goOn = verifier.push(rows);
    eventsChecked = verifier.rowsSeen;
    after = rows[rows.length - 1].position;
    opts.onProgress?.({ eventsChecked, position: after, headPosition, elapsedMs: now() - started });
    if (!goOn) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const end = verifier.end();
  const elapsedMs = now() - started;
  if (!end.ok) return { ...end, eventsChecked, elapsedMs };
  // The chain is consistent in itself; an anchored head also proves it was not rewritten as a whole.
  const anchor = opts.expectHead;
  if (anchor && anchor.seq > 0) {
    if (verifier.watched === undefined) {
      const reason = `the log has ${end.head.seq} events, fewer than the ${anchor.seq} of the anchored head: events were removed from its end`;
      return { ok: false, problem: { kind: 'anchor', seq: anchor.seq, reason }, verified: end.head, eventsChecked, elapsedMs };
    }
    if (verifier.watched !== anchor.hash) {
      const reason = `link #${anchor.seq} is ${verifier.watched.slice(0, 16)}..., not the anchored ${anchor.hash.slice(0, 16)}...: the log up to it was rewritten`;
      return { ok: false, problem: { kind: 'anchor', seq: anchor.seq, reason }, verified: end.head, eventsChecked, elapsedMs };
    }
  }
  return { ok: true, head: end.head, eventsChecked, elapsedMs };
}
