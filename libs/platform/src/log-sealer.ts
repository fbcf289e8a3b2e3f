import { ChainSealConflictError, sealLog, type EventStore } from '@cem/event-store';

export type SealOutcome = { kind: 'sealed'; sealed: number; headSeq: number } | { kind: 'conflict' } | { kind: 'failed'; reason: string };

export interface LogSealerOptions {
  intervalMs: number;
  /** one line per seal that did something, or failed; never personal data (counts and hashes only) */
  log: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
  /** the timer (tests drive it by hand) */
  schedule?: (run: () => void, ms: number) => { cancel(): void };
  /** links per chain page (sealLog's default when absent); tests seal several pages from a few events */
  pageSize?: number;
}

const realTimer = (run: () => void, ms: number) => {
  const t = setTimeout(run, ms);
  t.unref(); // a pending seal never keeps a process alive
  return { cancel: () => clearTimeout(t) };
};

/**
 * Seals the log on EventStoreDB on a schedule (LOG_SEAL_INTERVAL_S), so the chain keeps up without
 * an operator running `cem log seal`. Every API process may run one: the chain stream's expected
 * revision lets one of them win each round, the others see a conflict and wait for the next. A
 * scheduled seal is housekeeping, not an ops action: it is not recorded as an ops event (each record
 * would be an unsealed event for the next round); the chain stream itself says what was sealed when.
 */
export class LogSealer {
  private timer?: { cancel(): void };
  private running?: Promise<SealOutcome>;
  private stopped = false;

  constructor(
    private readonly logStore: EventStore,
    private readonly opts: LogSealerOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.next();
  }

  /** Stops the schedule and waits for a seal under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }

  async sealOnce(): Promise<SealOutcome> {
    this.running ??= this.seal().finally(() => (this.running = undefined));
    return this.running;
  }

  private next(): void {
    if (this.stopped) return;
    this.timer = (this.opts.schedule ?? realTimer)(() => void this.sealOnce().then(() => this.next()), this.opts.intervalMs);
  }

  private async seal(): Promise<SealOutcome> {
    try {
      const r = await sealLog(this.logStore, { pageSize: this.opts.pageSize });
      if (r.sealed > 0) this.opts.log('info', 'log sealed', { sealed: r.sealed, headSeq: r.head.seq, headHash: r.head.hash });
      return { kind: 'sealed', sealed: r.sealed, headSeq: r.head.seq };
    } catch (e) {
      // another process sealed the same events first: the chain is fine, nothing to do this round
      if (e instanceof ChainSealConflictError) return { kind: 'conflict' };
      const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
      this.opts.log('warn', 'scheduled log seal failed; retried next round', { reason });
      return { kind: 'failed', reason };
    }
  }
}
