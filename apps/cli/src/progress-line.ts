import { formatClock, formatCount, type ProgressOutput } from '@cem/backfill';

/**
 * Progress of a walk over the log, drawn like `cem import` draws its own (a redrawn line on a
 * terminal, a plain line every 5 s otherwise): events done, events/s and an ETA from the fraction
 * done (by log position, or by events when the total is known).
 */
export function logProgress(out: ProgressOutput, label: string, opts: { intervalMs?: number; now?: () => number } = {}) {
  const now = opts.now ?? Date.now;
  const tty = out.isTTY === true;
  const interval = opts.intervalMs ?? (tty ? 100 : 5000);
  let last = -Infinity;
  let drawn = false;
  return {
    update(p: { events: number; elapsedMs: number; fraction?: number; note?: string }) {
      const t = now();
      if (t - last < interval) return;
      last = t;
      const secs = p.elapsedMs / 1000;
      const rate = secs > 0 ? p.events / secs : 0;
      const fraction = p.fraction === undefined ? undefined : Math.min(1, Math.max(0, p.fraction));
      const eta = fraction === undefined || fraction <= 0 ? Infinity : (secs * (1 - fraction)) / fraction;
      const pct = fraction === undefined ? '' : `${(fraction * 100).toFixed(1).padStart(5)}% `;
      const text = `${label}: ${pct}${formatCount(p.events)} events  ${formatCount(rate)} events/s  ETA ${formatClock(eta)}${p.note ? `  ${p.note}` : ''}`;
      if (tty) {
        out.write(`\r${text}\x1b[K`);
        drawn = true;
      } else out.write(`${text}\n`);
    },
    done() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}
