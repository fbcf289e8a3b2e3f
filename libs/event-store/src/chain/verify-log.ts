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

export type VerifyLogResult =
  | { ok: true; head: ChainHead; eventsChecked: number; elapsedMs: number }
  | { ok: false; problem: ChainProblem; verified: ChainHead; eventsChecked: number; elapsedMs: number };

/**
 * Walks the whole log in pages, recomputing the chain, and stops at the first problem. Yields to
 * the event loop between pages so progress can be printed and a signal can stop it.
 */
export async function verifyLog(
  log: ChainedLog,
  opts: { pageSize?: number; onProgress?: (p: VerifyLogProgress) => void; now?: () => number } = {},
): Promise<VerifyLogResult> {
  const now = opts.now ?? Date.now;
  const started = now();
  const pageSize = opts.pageSize ?? 5000;
  const headPosition = await log.headPosition();
  const verifier = new ChainVerifier();
  let after = 0;
  let eventsChecked = 0;
  for (;;) {
    const rows = log.readChainRows(after, pageSize);
    if (rows.length === 0) break;
    const goOn = verifier.push(rows);
    eventsChecked += rows.length;
    after = rows[rows.length - 1].position;
    opts.onProgress?.({ eventsChecked, position: after, headPosition, elapsedMs: now() - started });
    if (!goOn) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const end = verifier.end();
  const elapsedMs = now() - started;
  return end.ok ? { ok: true, head: end.head, eventsChecked, elapsedMs } : { ...end, eventsChecked, elapsedMs };
}
