import {
  exportLog,
  replayRange,
  sealedHead,
  SqliteEventStore,
  verifyLog,
  verifySealedLog,
  type AnchoredHead,
  type ChainHead,
  type EventStore,
  type ReplayRange,
  type VerifyLogProgress,
  type VerifyLogResult,
} from '@cem/event-store';
import { performOpsAction, type OpsActor } from './ops-actions';

/**
 * The log commands as ops actions, shared by the CLI (`cem verify-log`, `export-log`, `replay`,
 * `log head`) and the admin API (`/v1/ops/log/...`): each runs the command and appends its
 * `ops.action-performed` record through performOpsAction, so both front ends record the same thing.
 */

/**
 * `logStore` is the log as stored (ciphertext where personal data is encrypted): the chain, export
 * and replay walk it; `store` is where the ops record is appended (through the encrypting store).
 */
export interface LogStores {
  store: EventStore;
  logStore: EventStore;
}

const embedded = (store: EventStore): SqliteEventStore | undefined => (store instanceof SqliteEventStore ? store : undefined);

/** The head of the chain: every append's link on the embedded store, the last sealed link on EventStoreDB. */
export async function readLogHead(store: EventStore): Promise<ChainHead & { sealed: boolean }> {
  const sqlite = embedded(store);
  return sqlite ? { ...sqlite.chainHead(), sealed: false } : { ...(await sealedHead(store)), sealed: true };
}

/**
 * Reads the head and records the read. Recording it moves the head by one event, but the anchor
 * printed (link n and its hash) stays in the chain for good: `verify-log --expect-head` still checks it.
 */
export async function logHeadAction({ store, logStore }: LogStores, actor: OpsActor): Promise<ChainHead & { sealed: boolean }> {
  return performOpsAction(store, { action: 'log-head', actor, parameters: {} }, async () => {
    const head = await readLogHead(logStore);
    return {
      ...head,
      result: 'ok' as const,
      outcome: `head: event #${head.seq}`,
      figures: { headSeq: head.seq, headPosition: head.position, headHash: head.hash },
    };
  });
}

export type WholeLogVerification = VerifyLogResult & { unsealed: number };

/** verify-log: the embedded store's stored chain, or on EventStoreDB the sealed part (and a count of the rest). */
export async function verifyLogAction(
  { store, logStore }: LogStores,
  actor: OpsActor,
  opts: {
    expectHead?: AnchoredHead;
    /** recorded as given (an anchor text, a checkpoint file name): no personal data */
    parameters: Record<string, string | number | boolean | null>;
    onProgress?: (p: VerifyLogProgress) => void;
  },
): Promise<WholeLogVerification> {
  return performOpsAction(store, { action: 'verify-log', actor, parameters: opts.parameters }, async () => {
    const verifyOptions = { expectHead: opts.expectHead, onProgress: opts.onProgress };
    const sqlite = embedded(logStore);
    // the embedded store chains every append: nothing is ever unsealed there
    const r: WholeLogVerification = sqlite
      ? { ...(await verifyLog(sqlite, verifyOptions)), unsealed: 0 }
      : await verifySealedLog(logStore, verifyOptions);
    const head = r.ok ? r.head : r.verified;
    const figures = {
      eventsChecked: r.eventsChecked,
      verifiedSeq: head.seq,
      verifiedHash: head.hash,
      unsealed: r.unsealed,
      elapsedMs: r.elapsedMs,
    };
    return r.ok
      ? { ...r, result: 'ok' as const, outcome: `verified ${r.eventsChecked} events`, figures }
      : { ...r, result: 'failed' as const, outcome: r.problem.reason, figures };
  });
}

/** export-log: the whole log as NDJSON with its hashes through `write`. */
export async function exportLogAction(
  { store, logStore }: LogStores,
  actor: OpsActor,
  opts: {
    storeName: string;
    write: (text: string) => Promise<void> | void;
    parameters: Record<string, string | number | boolean | null>;
    onProgress?: (p: { events: number; elapsedMs: number }) => void;
  },
): Promise<{ head: ChainHead; events: number }> {
  return performOpsAction(store, { action: 'export-log', actor, parameters: opts.parameters }, async () => {
    const done = await exportLog(logStore, opts.write, {
      storeName: opts.storeName,
      exportedAt: new Date().toISOString(),
      onProgress: opts.onProgress,
    });
    return {
      ...done,
      result: 'ok' as const,
      outcome: `exported ${done.events} events`,
      figures: { events: done.events, headSeq: done.head.seq, headHash: done.head.hash },
    };
  });
}

/** The parameters of a replay range as an ops record keeps them. */
export function replayRangeParameters(range: ReplayRange): Record<string, string | number | null> {
  return range.by === 'position'
    ? { fromPosition: range.from, toPosition: range.to ?? null }
    : { fromTime: range.from, toTime: range.to ?? null };
}

/** replay: a range of the log (checked beforehand with checkReplayRange) as NDJSON, one event a line. */
export async function replayAction(
  { store, logStore }: LogStores,
  actor: OpsActor,
  opts: {
    range: ReplayRange;
    /** the head position checkReplayRange returned: the replay stops there */
    head: number;
    write: (text: string) => Promise<void> | void;
    parameters?: Record<string, string | number | boolean | null>;
    onProgress?: (events: number, position: number) => void;
  },
): Promise<{ events: number }> {
  return performOpsAction(
    store,
    { action: 'replay', actor, parameters: { ...replayRangeParameters(opts.range), ...opts.parameters } },
    async () => {
      let events = 0;
      for await (const page of replayRange(logStore, opts.range, opts.head)) {
        await opts.write(page.map((e) => `${JSON.stringify(e)}\n`).join(''));
        events += page.length;
        opts.onProgress?.(events, page[page.length - 1].position);
      }
      return { events, result: 'ok' as const, outcome: `printed ${events} events`, figures: { events, headPosition: opts.head } };
    },
  );
}
