import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { EventStore, RecordedEvent, SubscribeOptions, Subscription, SubscriptionMessage } from '@cem/event-store';

/** What the lanes of a projector read the log through: a catch-up subscription, and the head. */
export type LogSource = Pick<EventStore, 'subscribeToAll' | 'headPosition'>;

interface Page {
  /** the position the page starts after */
  after: number;
  events: Promise<RecordedEvent[]>;
}

/** where a subscription that still reads through the shared pages stands */
interface Cursor {
  after: number;
}

/**
 * The log read once for every lane of a projector while they catch up (a rebuild of every read
 * model from 0, a restart behind the head). Each lane has its own subscription and checkpoint as
 * before, but a page of the log (`after`, `batchSize`) is read and decoded (parsed, opened when the
 * log is encrypted) once and handed to every lane that asks for the same page: before, each of the
 * six lanes read and decoded the whole log (about 10% of a rebuild's CPU, and as much garbage).
 * Lanes share the page's event objects: projections treat records as read-only (they fold them
 * into their own state), as they always had to (the EventBus hands one record to every handler).
 *
 * Bounded: a page is dropped once every subscription still catching up has passed it (a live lane
 * or one that stopped holds nothing), and at most `maxPages` are kept (the oldest go first; a lane
 * that asks for a dropped page reads it again).
 * Lanes take turns of whole transactions on the read store (ProjectionLane), so the pages of one
 * turn are what must stay: `maxPages` is the batches of a transaction, plus one.
 *
 * Once a subscription's page comes back short (the head is reached), it continues on the store's
 * own subscription from there: the caught-up signal and everything live come from the store as
 * before, one subscription per lane.
 */
export class SharedLogPages implements LogSource {
  private readonly pages = new Map<string, Page>();
  /** subscriptions still reading through the shared pages */
  private readonly cursors = new Set<Cursor>();
  private pagesRead = 0;
  private pagesShared = 0;

  constructor(
    private readonly store: EventStore,
    private readonly maxPages: number,
  ) {}

  headPosition(): Promise<number> {
    return this.store.headPosition();
  }

  /** pages read from the store, and pages handed out again from memory (for tests and figures) */
  get stats(): { pagesRead: number; pagesShared: number; pagesHeld: number } {
    return { pagesRead: this.pagesRead, pagesShared: this.pagesShared, pagesHeld: this.pages.size };
  }

  /**
   * A reader of the pages after `after` for one consumer (a lane): each `next` hands the following
   * page, shared with the other readers at the same place. Close it when done (a reader left open
   * keeps the pages it has not passed, up to `maxPages`).
   */
  reader(after: number, batchSize: number): { next(): Promise<RecordedEvent[]>; readonly after: number; close(): void } {
    const cursor: Cursor = { after };
    this.cursors.add(cursor);
    return {
      next: async () => {
        const events = await this.page(cursor.after, batchSize);
        if (events.length > 0) cursor.after = events[events.length - 1].position;
        this.dropPassedPages();
        return events;
      },
      get after() {
        return cursor.after;
      },
      close: () => {
        if (this.cursors.delete(cursor)) this.dropPassedPages();
      },
    };
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    const batchSize = options.batchSize ?? 1000;
    const reader = this.reader(options.after ?? 0, batchSize);
    let stopped = false;
    let live: Subscription | undefined;
    const store = this.store;
    async function* messages(): AsyncGenerator<SubscriptionMessage> {
      try {
        while (!stopped) {
          const events = await reader.next();
          if (events.length === 0) break;
          yield { type: 'events', events };
          if (events.length < batchSize) break;
          // as the store's own subscription does after a full page: timers, HTTP and sockets get a turn
          await yieldToEventLoop();
        }
        reader.close();
        if (stopped) return;
        live = store.subscribeToAll({ after: reader.after, batchSize });
        for await (const message of live) yield message;
      } finally {
        reader.close();
      }
    }
    const iterator = messages();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        stopped = true;
        await live?.close();
        await iterator.return(undefined);
      },
    };
  }

  /** the page after `after`, read once for every subscription that asks for it */
  private async page(after: number, maxCount: number): Promise<RecordedEvent[]> {
    const key = `${after}:${maxCount}`;
    let page = this.pages.get(key);
    if (page) this.pagesShared++;
    else {
      page = { after, events: this.store.readAll({ after, maxCount }) };
      this.pagesRead++;
      this.pages.set(key, page);
      while (this.pages.size > this.maxPages) this.pages.delete(this.pages.keys().next().value!);
      // a failed read is not kept: the lane retries from its checkpoint and reads again
      page.events.catch(() => this.pages.delete(key));
    }
    return page.events;
  }

  /** drops the pages every subscription still catching up has passed (nobody asks for them again; a retry reads anew) */
  private dropPassedPages(): void {
    let lowest = Infinity;
    for (const c of this.cursors) lowest = Math.min(lowest, c.after);
    for (const [key, page] of this.pages) if (page.after < lowest) this.pages.delete(key);
  }
}
