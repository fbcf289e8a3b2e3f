import { customerIdOfStream, customerStreamId, followMergeChainAsync } from '@cem/domain';
import { StreamNotFoundError, type EventStore, type RecordedEvent } from '@cem/event-store';
import { CustomerStates, replayWithoutMerges, streamCustomerOf, type CustomerHistory } from '../kit/customer-states';
import { toProjectedRecord } from '../projector/projection-lane';

/**
 * One customer's part of the log: the events of its own stream and of the streams of every customer
 * merged into it (chains followed), in log order, as the read models attribute them after an unmerge
 * (docs/identity.md, "Who owns which event afterwards"): a survivor's log leaves out the streams of
 * the customers split off and the events of its own stream re-attributed to them; a customer split
 * off gets those events, and the merge and unmerge events that split it off, in its log. Anything
 * the platform writes about a customer goes to the customer's stream (registration, merges,
 * churn-risk.changed, milestones, ...), so a new customer-keyed event type appears here without a
 * code change.
 */
export type CustomerLog =
  | {
      kind: 'found';
      customerId: string;
      /** customers merged into this one (directly or through a chain), sorted */
      mergedIds: string[];
      /** every event of those streams, by position */
      events: RecordedEvent[];
    }
  | { kind: 'merged'; customerId: string; survivorId: string }
  | { kind: 'not-found' };

export interface CustomerLogOptions {
  /**
   * Only what the platform had recorded by this instant (epoch ms): events recorded later are left
   * out, and so are the merges recorded later (a customer merged away after it was still live then).
   */
  recordedBy?: number;
}

const recordedBy = (limit: number | undefined) => (e: RecordedEvent) => limit === undefined || Date.parse(e.recordedAt) <= limit;

/** Reads one customer's log (see CustomerLog), following merges; a merged-away id answers with its live survivor. */
export async function readCustomerLog(store: EventStore, customerId: string, options: CustomerLogOptions = {}): Promise<CustomerLog> {
  const log = await readCustomerStreams(store, customerId, options);
  return log.kind === 'found' ? attributed(store, log, recordedBy(options.recordedBy)) : log;
}

/**
 * The events of a customer's stream and of every stream merged into it, unmerges or not: what the
 * read-model kit refolds an unmerge's customers from (their log before it, the merge included).
 */
async function readCustomerStreams(store: EventStore, customerId: string, options: CustomerLogOptions = {}): Promise<CustomerLog> {
  const known = recordedBy(options.recordedBy);
  const own = (await readCustomerStream(store, customerId))?.filter(known);
  if (!own || own.length === 0) return { kind: 'not-found' };
  const pointer = await liveSurvivorOf(store, customerId, own, known);
  if (pointer !== undefined) {
    const survivorId = await followMergeChainAsync(pointer, async (id) => {
      const events = (await readCustomerStream(store, id))?.filter(known);
      return events && liveSurvivorOf(store, id, events, known);
    });
    return { kind: 'merged', customerId, survivorId };
  }

  const streams = new Map<string, RecordedEvent[]>([[customerId, own]]);
  const pending = [customerId];
  while (pending.length > 0) {
    const survivor = pending.pop()!;
    for (const e of streams.get(survivor)!) {
      if (e.type !== 'customers.merged') continue;
      const { survivorId, mergedIds } = e.data as { survivorId: string; mergedIds: string[] };
      if (survivorId !== survivor) continue;
      for (const mergedId of mergedIds) {
        if (streams.has(mergedId)) continue;
        streams.set(mergedId, (await readCustomerStream(store, mergedId))?.filter(known) ?? []);
        pending.push(mergedId);
      }
    }
  }
  const events = [...streams.values()].flat().sort((a, b) => a.position - b.position);
  const mergedIds = [...streams.keys()].filter((id) => id !== customerId).sort();
  return { kind: 'found', customerId, mergedIds, events };
}

/**
 * The survivor the latest `customer.merged-into` pointer of this stream names, if any, unless the
 * survivor's stream undid that merge afterwards (`customers.unmerged` splitting this customer off):
 * then the customer is live again.
 */
async function liveSurvivorOf(
  store: EventStore,
  customerId: string,
  events: readonly RecordedEvent[],
  known: (e: RecordedEvent) => boolean,
): Promise<string | undefined> {
  let pointer: RecordedEvent | undefined;
  for (const e of events) if (e.type === 'customer.merged-into') pointer = e;
  if (!pointer) return undefined;
  const survivorId = (pointer.data as { survivorId: string }).survivorId;
  const survivorEvents = (await readCustomerStream(store, survivorId))?.filter(known) ?? [];
  const undone = survivorEvents.some(
    (e) => e.type === 'customers.unmerged' && e.position > pointer.position && (e.data as { splitId: string }).splitId === customerId,
  );
  return undone ? undefined : survivorId;
}

/**
 * Applies the unmerges to a customer's streams (readCustomerStreams): adds, for each customer of the
 * log that an unmerge split off, the survivor's events re-attributed to it and that merge and
 * unmerge; then keeps the events that are the customer's now, by the kit's own rule
 * (replayWithoutMerges), and the identity events of its streams and of its split-offs.
 */
async function attributed(
  store: EventStore,
  log: Extract<CustomerLog, { kind: 'found' }>,
  known: (e: RecordedEvent) => boolean,
): Promise<CustomerLog> {
  const ids = [log.customerId, ...log.mergedIds];
  const extra = new Map<number, RecordedEvent>();
  for (const e of log.events) {
    if (e.type !== 'customer.merged-into') continue;
    const splitId = streamCustomerIdOf(e);
    const survivorId = (e.data as { survivorId: string }).survivorId;
    // a pointer to a customer of this log: its stream is here already
    if (splitId === undefined || ids.includes(survivorId)) continue;
    const survivorEvents = ((await readCustomerStream(store, survivorId)) ?? []).filter(known);
    for (const u of survivorEvents) {
      if (u.type !== 'customers.unmerged' || (u.data as { splitId: string }).splitId !== splitId) continue;
      const { mergeId, reattributedEventIds } = u.data as { mergeId: string; reattributedEventIds?: string[] };
      const wanted = new Set([u.eventId, mergeId, ...(reattributedEventIds ?? [])]);
      for (const x of survivorEvents) if (wanted.has(x.eventId) && x.position <= u.position) extra.set(x.position, x);
    }
  }
  const events = [...log.events.filter((e) => !extra.has(e.position)), ...extra.values()].sort((a, b) => a.position - b.position);
  if (!events.some((e) => e.type === 'customers.unmerged')) return log;

  // whose each event is now, by the kit's rule (undone merges never happened, re-attributed events moved)
  const owners = new Map<number, string>();
  const states = replayWithoutMerges(
    new CustomerStates({ empty: (id) => ({ customerId: id, mergedInto: null, lastPosition: 0 }), absorb: () => undefined }),
    events.map(toProjectedRecord),
    (route, record) => {
      if (route.kind === 'event') owners.set(record.position, route.owner.customerId);
    },
  );
  const isMine = (id: string | undefined) => id !== undefined && states.canonical(id) === log.customerId;
  const kept = events.filter((e) => {
    const owner = owners.get(e.position);
    if (owner !== undefined) return isMine(owner);
    // identity events (merges, pointers, unmerges) and events of no customer: by their stream, or as the split-off's evidence
    return extra.has(e.position) || isMine(streamCustomerOf(toProjectedRecord(e)));
  });
  const mergedIds = ids.filter((id) => id !== log.customerId && isMine(id)).sort();
  return { kind: 'found', customerId: log.customerId, mergedIds, events: kept };
}

async function readCustomerStream(store: EventStore, customerId: string): Promise<RecordedEvent[] | undefined> {
  try {
    return await store.readStream(customerStreamId(customerId));
  } catch (e) {
    if (e instanceof StreamNotFoundError) return undefined;
    throw e;
  }
}

/** The customer whose stream recorded an event (the metadata names it for a stream of another shape). */
export const streamCustomerIdOf = (e: RecordedEvent): string | undefined =>
  customerIdOfStream(e.streamId) ?? ((e.metadata as { customerId?: string } | undefined)?.customerId || undefined);

/** A customer's log from the event store, as projections see it (the kit's CustomerHistory, for refolds after an unmerge). */
export const customerHistoryOf =
  (store: EventStore): CustomerHistory =>
  async (customerId) => {
    const log = await readCustomerStreams(store, customerId);
    return log.kind === 'found' ? log.events.map(toProjectedRecord) : [];
  };
