import type { ImportProgress, ImportSummary } from './run-import';

export interface ProgressOutput {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** A count for people: rounded, with thousands separators. */
export const formatCount = (n: number) => Math.round(n).toLocaleString('en-US');
/** Seconds as m:ss or h:mm:ss (an ETA); '--:--' when unknown. */
export const formatClock = (s: number) => {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
};

/**
 * Progress of an import: a redrawn bar with rate and ETA on a terminal, a plain line every few
 * seconds otherwise (logs and CI stay readable). ETA comes from the bytes read so far.
 */
export function progressReporter(out: ProgressOutput, opts: { intervalMs?: number; now?: () => number } = {}) {
  const now = opts.now ?? Date.now;
  const tty = out.isTTY === true;
  const interval = opts.intervalMs ?? (tty ? 100 : 5000);
  let last = -Infinity;
  let drawn = false;

  const line = (p: ImportProgress) => {
    const secs = p.elapsedMs / 1000;
    const rate = secs > 0 ? p.rowsRead / secs : 0;
    const fraction = p.totalBytes > 0 ? Math.min(1, p.bytesRead / p.totalBytes) : 0;
    const eta = fraction > 0 && fraction < 1 ? (secs * (1 - fraction)) / fraction : fraction >= 1 ? 0 : Infinity;
    const stats = `${formatCount(p.rowsRead)} rows  ${formatCount(rate)} rows/s  ETA ${formatClock(eta)}  imported ${formatCount(p.eventsImported)}  dup ${formatCount(p.eventsDuplicate)}  rejected ${formatCount(p.rowsRejected)}`;
    return { fraction, stats };
  };

  return {
    update(p: ImportProgress, force = false) {
      const t = now();
      if (!force && t - last < interval) return;
      last = t;
      const { fraction, stats } = line(p);
      const pct = `${(fraction * 100).toFixed(1).padStart(5)}%`;
      if (tty) {
        const width = Math.max(10, Math.min(40, (out.columns ?? 100) - stats.length - 12));
        const filled = Math.round(fraction * width);
        out.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct} ${stats}\x1b[K`);
        drawn = true;
      } else out.write(`import: ${pct} ${stats}\n`);
    },
    done(s: ImportSummary) {
      if (drawn) out.write('\n');
      drawn = false;
      void s;
    },
  };
}

/** The closing summary, one line per count. */
export function formatSummary(s: ImportSummary): string {
  return [
    `import ${s.status}${s.resumedAfterRecords ? ` (resumed after ${formatCount(s.resumedAfterRecords)} records done earlier)` : ''} in ${(s.elapsedMs / 1000).toFixed(1)} s`,
    `  rows read:        ${formatCount(s.rowsRead)}`,
    `  events imported:  ${formatCount(s.eventsImported)}`,
    `  duplicates:       ${formatCount(s.eventsDuplicate - s.eventsRepeatedInFile)} (already recorded by an earlier import: nothing written)`,
    `  repeated in file: ${formatCount(s.eventsRepeatedInFile)} (rows that repeat an earlier row's event in this file: nothing written)`,
    `  rows rejected:    ${formatCount(s.rowsRejected)}${s.rowsRejected ? ` (see ${s.rejectFile})` : ''}`,
    `  rows filtered:    ${formatCount(s.rowsFiltered)}`,
  ].join('\n');
}
