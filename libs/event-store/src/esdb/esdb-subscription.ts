import {
  START,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type EventStoreDBClient,
} from '@eventstore/db-client';
import type { RecordedEvent, SubscribeOptions, Subscription, SubscriptionMessage } from '../port';
import { isTransientStoreError } from '../transient';
import { mapEsdbError } from './errors';
import { isHiddenStream, isSystemEventType, VISIBLE_STREAM_REGEX } from './naming';
import { toRecorded } from './records';

export interface BackoffOptions {
  /** first wait after a dropped connection; default 100 ms */
  initialMs?: number;
  /** longest wait; default 5 s */
  maxMs?: number;
}

/** Which streams a subscription follows: a server-side stream-name regex, and the check on our side. */
export interface StreamSelection {
  regex: string;
  keep: (streamId: string, type: string) => boolean;
  /** a process waiting only on this subscription's reconnect backoff may exit (a follower, not a worker) */
  unrefTimers?: boolean;
}

/** The global log as the port shows it: neither system nor internal streams. */
export const VISIBLE_STREAMS: StreamSelection = {
  regex: VISIBLE_STREAM_REGEX,
  keep: (streamId, type) => !isHiddenStream(streamId) && !isSystemEventType(type),
};

type Item = RecordedEvent | { caughtUp: number };

/**
 * A catch-up subscription to `$all`, filtered server-side (by default to our streams, the port's global log), that survives dropped
 * connections: it reconnects with exponential backoff (with jitter) and resumes strictly after the
 * last event it handed out, so nothing is lost or repeated. The resume point is always the position
 * of a delivered event, never a server filter checkpoint (those may point past events still to come).
 */
export class EsdbSubscription implements Subscription {
  private readonly queue: Item[] = [];
  private readonly batchSize: number;
  private readonly highWater: number;
  /** position of the last event queued for the consumer; -1: from the start */
  private last: number;
  private closed = false;
  private failure: unknown;
  private wake?: () => void;
  private current?: AllStreamSubscription;
  private finishCurrent?: (error?: unknown) => void;
  private backoffTimer?: NodeJS.Timeout;
  private backoffResolve?: () => void;
  private readonly running: Promise<void>;
  private readonly initialMs: number;
  private readonly maxMs: number;
  /** how many times the connection was (re)opened; for tests and logs */
  connections = 0;

  constructor(
    private readonly client: EventStoreDBClient,
    options: SubscribeOptions,
    backoff: BackoffOptions = {},
    private readonly log: (message: string) => void = () => {},
    private readonly onClosed: () => void = () => {},
    private readonly streams: StreamSelection = VISIBLE_STREAMS,
  ) {
    this.batchSize = Math.max(1, options.batchSize ?? 1000);
    this.highWater = Math.max(this.batchSize * 4, 1000);
    this.last = options.after !== undefined && options.after > 0 ? options.after : -1;
    this.initialMs = backoff.initialMs ?? 100;
    this.maxMs = backoff.maxMs ?? 5000;
    this.running = this.run();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      const { delivered, error } = await this.connectOnce();
      if (this.closed) break;
      if (error !== undefined && !isTransientStoreError(error) && !isDrop(error)) {
        // a permanent refusal (access denied on $all): end with the port's error, not the client's
        this.failure = mapEsdbError(error, '$all');
        break;
      }
      if (delivered) attempt = 0;
      const delay = Math.min(this.maxMs, this.initialMs * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      attempt++;
      this.log(
        `event store subscription dropped (${describe(error)}); reconnecting in ${Math.round(delay)} ms after position ${this.last}`,
      );
      await new Promise<void>((resolve) => {
        this.backoffResolve = resolve;
        this.backoffTimer = setTimeout(resolve, delay);
        if (this.streams.unrefTimers) this.backoffTimer.unref();
      });
    }
    this.closed = true;
    this.notify();
  }

  /** One connection: resolves when it ends, with whether it got as far as the server's confirmation. */
  private connectOnce(): Promise<{ delivered: boolean; error?: unknown }> {
    return new Promise((resolve) => {
      this.connections++;
      const sub = this.client.subscribeToAll({
        fromPosition: this.last >= 0 ? { commit: BigInt(this.last), prepare: BigInt(this.last) } : START,
        filter: streamNameFilter({ regex: this.streams.regex }),
      });
      this.current = sub;
      let delivered = false;
      let done = false;
      /** 'caughtUp' is emitted when the message passes the client's transform, possibly before the
       * events ahead of it were emitted as 'data': it is queued after exactly that many more events. */
      let eventsBeforeCaughtUp: number | undefined;
      const finish = (error?: unknown) => {
        if (done) return;
        done = true;
        sub.removeAllListeners();
        sub.on('error', () => {});
        if (this.current === sub) {
          this.current = undefined;
          this.finishCurrent = undefined;
        }
        void sub.unsubscribe().catch(() => {});
        resolve({ delivered, error });
      };
      this.finishCurrent = finish;
      const markCaughtUp = () => this.push({ caughtUp: Math.max(this.last, 0) });
      sub.on('confirmation', () => {
        delivered = true;
      });
      sub.on('data', (resolved: AllStreamResolvedEvent) => {
        delivered = true;
        this.take(resolved);
        if (eventsBeforeCaughtUp !== undefined && --eventsBeforeCaughtUp === 0) {
          eventsBeforeCaughtUp = undefined;
          markCaughtUp();
        }
        if (this.queue.length >= this.highWater) sub.pause();
      });
      sub.on('caughtUp', () => {
        const pending = sub.readableLength;
        if (pending === 0) markCaughtUp();
        else eventsBeforeCaughtUp = pending;
      });
      sub.on('error', (err: unknown) => finish(err));
      sub.on('end', () => finish(new Error('the server ended the subscription')));
      sub.on('close', () => finish(new Error('the subscription stream closed')));
    });
  }

  private take(resolved: AllStreamResolvedEvent): void {
    const e = resolved.event;
    if (!e?.position) return;
    const position = Number(e.position.commit);
    if (position <= this.last) return; // already handed out before a reconnect
    this.last = position;
    if (!this.streams.keep(e.streamId, e.type)) return;
    for (const r of toRecorded(resolved)) this.push(r);
  }

  private push(item: Item): void {
    this.queue.push(item);
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async next(): Promise<IteratorResult<SubscriptionMessage>> {
    for (;;) {
      if (this.queue.length > 0) {
        const head = this.queue[0];
        let msg: SubscriptionMessage;
        if ('caughtUp' in head) {
          this.queue.shift();
          msg = { type: 'caught-up', position: head.caughtUp };
        } else {
          let n = 0;
          while (n < this.queue.length && n < this.batchSize && !('caughtUp' in this.queue[n])) n++;
          msg = { type: 'events', events: this.queue.splice(0, n) as RecordedEvent[] };
        }
        if (this.current?.isPaused() && this.queue.length < this.highWater / 2) this.current.resume();
        return { done: false, value: msg };
      }
      if (this.failure !== undefined) {
        const f = this.failure;
        this.failure = undefined;
        throw f;
      }
      if (this.closed) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionMessage> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.queue.length = 0;
      if (this.backoffTimer) clearTimeout(this.backoffTimer);
      this.backoffResolve?.();
      this.finishCurrent?.();
      this.notify();
    }
    await this.running.catch(() => {});
    this.onClosed();
  }
}

function isDrop(err: unknown): boolean {
  return err instanceof Error && /the server ended|stream closed/.test(err.message);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? 'ended');
}
