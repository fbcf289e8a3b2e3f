import {
  customerIdOfStream,
  customerStream,
  customerStreamId,
  decideMerge,
  decideMergeEventOnStream,
  followMergeChain,
  identifiersOf,
  type DomainEvent,
  type TouchpointCommand,
} from '@cem/domain';
import {
  contentHash,
  EventIdConflictError,
  EventTooLargeError,
  WrongExpectedRevisionError,
  type EventData,
  type EventStore,
  type StreamWrite,
} from '@cem/event-store';
import type { IdentityRegistry, PendingMerge } from '@cem/identity';
import { CustomerErasedError } from '@cem/privacy';
import { IngestConflictError, IngestValidationError, type EventError } from './errors';
import { validateEnvelope, type ValidationOptions, type ValidationOutcome } from './validation/validate-envelope';

export interface IngestResult {
  eventId: string;
  customerId: string;
  position: number;
  /** true when this eventId was already recorded: acknowledged, nothing written */
  duplicate: boolean;
}

export interface IngestionOptions extends ValidationOptions {
  /** attempts when another writer moved a stream between our read and our append */
  maxConflictRetries?: number;
}

/** Stored form of a domain event. */
const toEventData = (e: DomainEvent): EventData => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: { ...e.metadata } });

/**
 * The one write path shared by HTTP, Kafka and file imports:
 * validate -> skip already-recorded ids -> resolve identities -> decide -> append with expected revision.
 */
export class IngestionService {
  private readonly maxRetries: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly registry: IdentityRegistry,
    private readonly options: IngestionOptions,
  ) {
    this.maxRetries = options.maxConflictRetries ?? 20;
  }

  /** Validates one raw envelope (for callers that reject per message, like Kafka and imports). */
  validate(raw: unknown): ValidationOutcome {
    return validateEnvelope(raw, this.options);
  }

  /** All or nothing: any invalid event refuses the whole batch, naming each problem. */
  async ingest(raws: unknown[]): Promise<IngestResult[]> {
    const commands: TouchpointCommand[] = [];
    const errors: EventError[] = [];
    raws.forEach((raw, index) => {
      const outcome = this.validate(raw);
      const eventId = typeof (raw as { eventId?: unknown })?.eventId === 'string' ? (raw as { eventId: string }).eventId : undefined;
      if (outcome.ok) commands.push(outcome.command);
      else for (const e of outcome.errors) errors.push({ index, eventId, ...e });
    });
    if (errors.length > 0) throw new IngestValidationError(errors);
    return this.appendCommands(commands);
  }

  /**
   * Appends validated commands in one go (atomically on stores that can). Results come back in the
   * order of the commands.
   */
  async appendCommands(commands: TouchpointCommand[]): Promise<IngestResult[]> {
    if (commands.length === 0) return [];
    // One batch at a time per process: batches never race each other for a stream here, so
    // expected-revision conflicts only come from other processes (and are retried below).
    const run = this.queue.then(() => this.appendResolvingAgainAfterErasure(commands));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * An erasure that lands between resolving and appending destroys the key of the customer the
   * events were resolved to (and removes its identifiers): resolving again gives a new customer, so
   * nothing is written for the erased one and nothing is lost.
   */
  private async appendResolvingAgainAfterErasure(commands: TouchpointCommand[]): Promise<IngestResult[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.appendSerially(commands);
      } catch (e) {
        if (!(e instanceof CustomerErasedError) || attempt >= 3) throw e;
      }
    }
  }

  private async appendSerially(commands: TouchpointCommand[]): Promise<IngestResult[]> {
    const results: (IngestResult | undefined)[] = new Array(commands.length);

    // Repeats of an eventId (retries) need no lookup first: the store recognises them on append and
    // answers with the original position (or refuses different content), all inside one transaction.
    const fresh: { command: TouchpointCommand; index: number }[] = [];
    const freshIds = new Map<string, number>();
    const conflicts: EventError[] = [];
    commands.forEach((command, index) => {
      const first = freshIds.get(command.eventId);
      if (first === undefined) {
        freshIds.set(command.eventId, index);
        fresh.push({ command, index });
      } else if (commandContentHash(command) !== commandContentHash(commands[first])) {
        conflicts.push({
          index,
          eventId: command.eventId,
          field: 'eventId',
          reason: `repeats the eventId of event ${first} with different content`,
        });
      } // else: a repeat inside the batch, answered below with the first one's result
    });
    if (conflicts.length > 0) throw new IngestConflictError(conflicts);

    // 2. decide and append; a concurrent writer moving a stream means: resolve again, read heads again
    // and redo (resolving is idempotent: the customers registered and the merges decided by the first
    // attempt are found again; an unmerge that landed meanwhile sends the events to the split customer)
    for (let attempt = 1; ; attempt++) {
      // an unmerge moving an identifier between resolving and reading the heads would let an event
      // resolved to the survivor land after its customers.unmerged without a conflict: checked below
      const generation = await this.registry.unmergeGeneration?.();
      // 1. who is it? (registers new customers, decides merges)
      const resolutions = await this.registry.resolveBatch(
        fresh.map(({ command }) => ({
          identifiers: identifiersOf(command),
          triggeringEventId: command.eventId,
          occurredAt: command.occurredAt,
          source: command.source,
        })),
      );
      const merges: PendingMerge[] = [...(await this.registry.pendingMerges())];
      for (const r of resolutions) for (const m of r.merges) if (!merges.some((x) => x.mergeId === m.mergeId)) merges.push(m);
      const survivorOf = new Map<string, string>();
      for (const m of merges) for (const id of m.mergedIds) survivorOf.set(id, m.survivorId);
      const canonical = (id: string): string => followMergeChain(id, (cur) => survivorOf.get(cur));

      const planned: { streamId: string; event: DomainEvent; resultIndex?: number }[] = [];
      const targets = new Set<string>();
      for (const m of merges) for (const { streamCustomerId } of decideMerge(m)) targets.add(customerStreamId(streamCustomerId));
      fresh.forEach((_, i) => targets.add(customerStreamId(resolutions[i].customerId)));
      const heads = await this.store.streamRevisions([...targets]);
      // an unmerge moved identifiers since we resolved: resolve again (the move comes first, so the next
      // resolution sees it). One that moves them after this check appends its customers.unmerged after
      // these heads were read: either our append conflicts (and we resolve again), or it lands before the
      // unmerge's, whose append then conflicts, reads again and attributes it by its identifiers.
      if (generation !== undefined && (await this.registry.unmergeGeneration!()) !== generation && attempt < this.maxRetries) continue;
      const revision = new Map(heads);

      // the stream's state is its head revision (docs/write-side.md), plus what this batch appends to it
      const stateOf = (streamId: string) => ({ revision: revision.get(streamId) ?? customerStream.initialState.revision });
      const plan = (streamId: string, events: DomainEvent[], command?: { eventId: string; index: number }) => {
        revision.set(streamId, events.reduce(customerStream.evolve, stateOf(streamId)).revision);
        for (const event of events)
          planned.push({ streamId, event, resultIndex: event.eventId === command?.eventId ? command.index : undefined });
      };
      for (const m of merges) {
        for (const { streamCustomerId, event } of decideMerge(m)) {
          const streamId = customerStreamId(streamCustomerId);
          plan(streamId, decideMergeEventOnStream(streamCustomerId, event, stateOf(streamId)));
        }
      }
      fresh.forEach(({ command, index }, i) => {
        const { customerId, conflict } = resolutions[i];
        const streamId = customerStreamId(customerId);
        const events = customerStream.decide({ customerId, touchpoint: command }, stateOf(streamId));
        // identifiers of customers an unmerge keeps apart: recorded on the first, marked for review
        const marked = conflict ? events.map((e) => (e.eventId === command.eventId ? markConflict(e, conflict) : e)) : events;
        plan(streamId, marked, { eventId: command.eventId, index });
      });

      const writes = new Map<string, StreamWrite>();
      for (const p of planned) {
        let w = writes.get(p.streamId);
        if (!w) writes.set(p.streamId, (w = { streamId: p.streamId, events: [], expectedRevision: heads.get(p.streamId) ?? -1 }));
        w.events.push(toEventData(p.event));
      }
      for (const w of writes.values()) if (w.expectedRevision === -1) w.expectedRevision = 'no_stream';

      try {
        const appended = await this.store.appendMany([...writes.values()]);
        if (merges.length > 0) await this.registry.confirmMerges(merges.map((m) => m.mergeId));
        const positions = new Map<string, { position: number; duplicate: boolean }>();
        for (const r of appended) for (const e of r.events) positions.set(e.eventId, e);
        for (const p of planned) {
          if (p.resultIndex === undefined) continue;
          const customerId = canonical(customerIdOfStream(p.streamId)!);
          const { position, duplicate } = positions.get(p.event.eventId)!;
          results[p.resultIndex] = { eventId: p.event.eventId, customerId, position, duplicate };
        }
        break;
      } catch (e) {
        if (e instanceof WrongExpectedRevisionError && attempt < this.maxRetries) {
          // another process won the race for a stream: back off a little, with jitter, and redo
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
          continue;
        }
        if (e instanceof EventTooLargeError) {
          // refused by the store before anything was written: the sender's event, not the server, is at fault
          const index = commands.findIndex((c) => c.eventId === e.eventId);
          throw new IngestValidationError([
            { index, eventId: e.eventId, field: 'data', reason: `is ${e.size} bytes as stored; the event store takes at most ${e.limit}` },
          ]);
        }
        if (e instanceof EventIdConflictError) {
          const index = commands.findIndex((c) => c.eventId === e.eventId);
          throw new IngestConflictError([
            { index, eventId: e.eventId, field: 'eventId', reason: 'was already recorded with different content' },
          ]);
        }
        throw e;
      }
    }

    // repeats of an id inside the batch get the answer of its first occurrence
    commands.forEach((c, index) => {
      if (!results[index]) results[index] = { ...results[freshIds.get(c.eventId)!]!, duplicate: true };
    });
    return results as IngestResult[];
  }
}

const markConflict = (e: DomainEvent, customerIds: string[]): DomainEvent => ({
  ...e,
  metadata: { ...e.metadata, identityConflict: customerIds },
});

/**
 * The event store's idempotency hash (contentHash) of the event a command becomes, from the fields
 * it looks at: two commands with one eventId are "the same event" exactly when these are equal.
 */
export function commandContentHash(c: TouchpointCommand): string {
  return contentHash({ eventId: c.eventId, type: c.type, data: c.data, metadata: { occurredAt: c.occurredAt } });
}
