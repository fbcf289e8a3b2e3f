import {
  customerStreamId,
  decideUnmerge,
  deterministicUuid,
  DomainValidationError,
  identifierKey,
  mergePointerEventId,
  parseIdentifierKey,
  UnmergeRefusedError,
  type CustomersUnmergedV1,
  type DomainEvent,
  type Identifier,
  type PersonalDataResealedV1,
  type RecordedMerge,
  type SplitRequest,
} from '@cem/domain';
import { StreamNotFoundError, WrongExpectedRevisionError, type RecordedEvent } from '@cem/event-store';
import type { UnmergeMove } from '@cem/identity';
import { RESEALED_STREAM } from '@cem/privacy';
import type { OpsActor } from './ops-actions';
import type { Platform } from './platform';

export { UnmergeRefusedError };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** at most this many customers split off by one request */
export const MAX_UNMERGE_SPLITS = 20;
/** at most this many identifiers named per split customer */
export const MAX_UNMERGE_IDENTIFIERS = 100;

export interface UnmergeRequest {
  /** the surviving customer of the merge(s) */
  customerId: string;
  /** the merged-away customers to split off; identifiers as `kind:value` (absent: all they brought) */
  splits: { customerId: string; identifiers?: string[] }[];
  reason: string | undefined;
  requestedBy: OpsActor;
  now?: () => Date;
}

export interface UnmergeResult {
  survivorId: string;
  /** one per customer split off, with the position of its `customers.unmerged` event */
  unmerged: (Omit<CustomersUnmergedV1, 'identifiers'> & { eventId: string; position: number; identifierCount: number })[];
}

/**
 * Undoes merges (docs/identity.md, "Unmerge"), in an order that concurrent ingestion and a crash
 * cannot turn into a loss: 1. the identity registry moves the identifiers to the split customers and
 * keeps the pairs apart (idempotent), so every event resolved from then on goes to the right
 * customer's stream; 2. with encryption, what moves is copied sealed with the split customer's key
 * (resealReattributed); 3. the `customers.unmerged` events are appended to the survivor's stream, at
 * the revision read (another writer in between: read and decide again). Events that arrived before
 * step 3 are attributed by the identifiers they carried when the read models refold both customers
 * at that event. An unmerge interrupted before 3 is completed by running it again (the
 * registry step is repeated harmlessly; the refusals are decided from the log, not the registry).
 */
export async function unmergeCustomer(platform: Platform, request: UnmergeRequest): Promise<UnmergeResult> {
  const survivorId = request.customerId;
  if (!UUID.test(survivorId))
    throw new UnmergeRefusedError(
      'customerId',
      'unknown-customer',
      `customerId: ${JSON.stringify(survivorId.slice(0, 64))} is not a customer id`,
    );
  if (request.splits.length > MAX_UNMERGE_SPLITS)
    throw new UnmergeRefusedError('split', 'invalid', `split: at most ${MAX_UNMERGE_SPLITS} customers per unmerge`);
  const splits: SplitRequest[] = request.splits.map((s, i) => {
    if (!UUID.test(s.customerId))
      throw new UnmergeRefusedError(
        'split',
        'unknown-customer',
        `split[${i}]: ${JSON.stringify(s.customerId.slice(0, 64))} is not a customer id`,
      );
    return { splitId: s.customerId, identifiers: s.identifiers && parseKeys(s.identifiers, i) };
  });
  const canonical = await platform.registry.canonicalId(survivorId);
  if (canonical === undefined) throw new UnmergeRefusedError('customerId', 'unknown-customer', `customerId: no customer ${survivorId}`);
  if (canonical !== survivorId)
    throw new UnmergeRefusedError(
      'customerId',
      'merged-away',
      `customerId: ${survivorId} was merged into ${canonical}; split ${survivorId} off ${canonical} first`,
    );
  for (const [i, s] of splits.entries())
    if ((await platform.registry.canonicalId(s.splitId)) === undefined)
      throw new UnmergeRefusedError('split', 'unknown-customer', `split[${i}]: no customer ${s.splitId}`);

  const now = (request.now ?? (() => new Date()))().toISOString();
  const broughtCache = new Map<string, { identifiers: string[]; restoredIds: string[] }>();
  for (let attempt = 1; ; attempt++) {
    const { events: survivorEvents, revision } = await readStream(platform, survivorId);
    const merges: RecordedMerge[] = [];
    const undone: { mergeId: string; splitId: string }[] = [];
    for (const e of survivorEvents) {
      if (e.type === 'customers.merged')
        merges.push({ mergeId: e.eventId, position: e.position, mergedIds: (e.data as { mergedIds: string[] }).mergedIds });
      if (e.type === 'customers.unmerged') {
        const d = e.data as CustomersUnmergedV1;
        undone.push({ mergeId: d.mergeId, splitId: d.splitId });
      }
    }
    const brought = new Map<string, { identifiers: string[]; restoredIds: string[] }>();
    for (const s of splits) {
      const merge = [...merges].reverse().find((m) => m.mergedIds.includes(s.splitId));
      if (!merge) continue;
      // decided once per merge: on a retry the registry has moved the identifiers already, and events
      // resolved to the split customer since then must not count as brought to the merge
      const cacheKey = `${merge.mergeId}/${s.splitId}`;
      if (!broughtCache.has(cacheKey)) broughtCache.set(cacheKey, await broughtTo(platform, s.splitId, merge));
      brought.set(s.splitId, broughtCache.get(cacheKey)!);
    }
    const survivorFacts = survivorEvents.map((e) => ({
      eventId: e.eventId,
      position: e.position,
      // the envelope's identifiers: what ingestion resolved the event by
      identifiers: envelopeIdentifiers(e).map(identifierKey),
    }));
    const events = decideUnmerge(
      { survivorId, merges, undone, brought, survivorEvents: survivorFacts },
      {
        splits,
        reason: request.reason,
        requestedBy: request.requestedBy,
        now,
        indexKeyOf: (key) => platform.identifierIndex.keyOf(parseIdentifierKey(key)),
      },
    );
    const plainMoved = new Map(events.map((e, i) => [e.eventId, movedPlainKeys(splits[i], brought)]));

    const moves: UnmergeMove[] = events.map((e) => {
      const moved = new Set(plainMoved.get(e.eventId)!);
      return {
        unmergeId: e.eventId,
        survivorId,
        splitId: e.data.splitId,
        restoredIds: e.data.restoredIds,
        identifiers: [...moved].map(toIdentifier),
        keptBySurvivor: brought
          .get(e.data.splitId)!
          .identifiers.filter((k) => !moved.has(k))
          .map(toIdentifier),
      };
    });
    await platform.registry.unmerge(moves);
    // with encryption, what the unmerge moves is sealed with the split customer's key: the re-attributed
    // events' values in a copy written first (a reader that sees the unmerge finds it), and the identifiers
    // the customers.unmerged event names
    if (platform.keys) await resealReattributed(platform, events, survivorEvents, plainMoved, revision);
    try {
      const sealedFor = (splitId: string) => (platform.keys ? { sealedFor: splitId } : {});
      const appended = await platform.store.appendToStream(
        customerStreamId(survivorId),
        events.map((e) => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: { ...e.metadata, ...sealedFor(e.data.splitId) } })),
        { expectedRevision: revision },
      );
      return {
        survivorId,
        unmerged: events.map((e, i) => {
          const { identifiers, ...data } = e.data;
          return { ...data, identifierCount: identifiers.length, eventId: e.eventId, position: appended.events[i].position };
        }),
      };
    } catch (e) {
      // ingestion appended to the survivor's stream between our read and our append: decide again
      if (e instanceof WrongExpectedRevisionError && attempt < 10) continue;
      throw e;
    }
  }
}

/** at most this many characters of plaintext values per `personal-data.resealed` event (EventStoreDB takes 1 MiB per append) */
const MAX_RESEALED_CHARS = 256_000;

/**
 * Step 2 with encryption: `personal-data.resealed` events on RESEALED_STREAM, per customer split
 * off, holding the personal values (payload and envelope identifiers) of the events re-attributed to
 * it, and its identifiers in the survivor's events that name both (the merge's trigger), sealed with
 * its key. Readers take those values instead of the survivor-sealed ones (EncryptingEventStore), so
 * they belong to the split customer: erasing it removes them, erasing the survivor does not. Written
 * before the customers.unmerged event, so whoever reads the unmerge finds them. A copy whose unmerge
 * was never appended (a conflict, then decided again; a crash) changes nothing readable: it holds the
 * same values, and while the merge stands the split customer's key is destroyed with the survivor's.
 */
async function resealReattributed(
  platform: Platform,
  events: DomainEvent<'customers.unmerged'>[],
  survivorEvents: readonly RecordedEvent[],
  plainMoved: ReadonlyMap<string, string[]>,
  revision: number | 'no_stream',
): Promise<void> {
  for (const u of events) {
    const reattributed = new Set(u.data.reattributedEventIds);
    const movedKeys = new Set(plainMoved.get(u.eventId));
    const copies: PersonalDataResealedV1['events'] = [];
    for (const e of survivorEvents) {
      if ((e.metadata as { personalDataErased?: true }).personalDataErased) continue;
      const identifiers = ((e.metadata as { identifiers?: Identifier[] }).identifiers ?? []) as Identifier[];
      if (reattributed.has(e.eventId)) {
        copies.push({ eventId: e.eventId, values: { data: e.data, identifiers } });
        continue;
      }
      // an event that stays with the survivor but names identifiers moved (the merge's trigger): those are
      // the split customer's (indices into the stored envelope, as the reader finds them)
      const indices = identifiers.flatMap((i, index) =>
        typeof i?.kind === 'string' && typeof i?.value === 'string' && movedKeys.has(identifierKey(i)) ? [index] : [],
      );
      if (indices.length > 0)
        copies.push({ eventId: e.eventId, values: { identifiers: indices.map((i) => identifiers[i]) }, identifierIndices: indices });
    }
    // in chunks that each fit one append
    const chunks: PersonalDataResealedV1['events'][] = [];
    let size = Infinity;
    for (const copy of copies) {
      const chars = JSON.stringify(copy).length;
      if (size + chars > MAX_RESEALED_CHARS) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1].push(copy);
      size += chars;
    }
    for (const [i, chunk] of chunks.entries()) {
      const data: PersonalDataResealedV1 = { unmergeId: u.eventId, survivorId: u.data.survivorId, splitId: u.data.splitId, events: chunk };
      await platform.store.appendToStream(RESEALED_STREAM, [
        {
          eventId: deterministicUuid('personal-data.resealed', u.eventId, String(revision), u.data.unmergedAt, String(i)),
          type: 'personal-data.resealed',
          data,
          metadata: {
            schemaVersion: 1,
            occurredAt: u.data.unmergedAt,
            source: 'cem/unmerge',
            causationId: u.eventId,
            sealedFor: u.data.splitId,
          },
        },
      ]);
    }
  }
}

function parseKeys(keys: string[], index: number): string[] {
  if (keys.length > MAX_UNMERGE_IDENTIFIERS)
    throw new UnmergeRefusedError('identifiers', 'invalid', `split[${index}].identifiers: at most ${MAX_UNMERGE_IDENTIFIERS}`);
  return keys.map((k, j) => {
    try {
      return identifierKey(parseIdentifierKey(k));
    } catch (e) {
      if (e instanceof DomainValidationError)
        throw new UnmergeRefusedError('identifiers', 'invalid', `split[${index}].identifiers[${j}]: ${e.errors[0].reason}`);
      throw e;
    }
  });
}

const toIdentifier = (key: string): Identifier => parseIdentifierKey(key);

async function readStream(platform: Platform, customerId: string): Promise<{ events: RecordedEvent[]; revision: number | 'no_stream' }> {
  try {
    const events = await platform.store.readStream(customerStreamId(customerId));
    return { events, revision: events.length === 0 ? 'no_stream' : events[events.length - 1].revision };
  } catch (e) {
    if (e instanceof StreamNotFoundError) return { events: [], revision: 'no_stream' };
    throw e;
  }
}

/**
 * What a merged-away customer brought to the merge: every identifier its events (and those of the
 * customers merged into it before) named up to the merge, and those customers. When the batch that
 * merged it also registered it, its own events of that batch are on its stream after the merge's
 * pointer (the ingestion writes the merge first); they count too: while it is merged away nothing else
 * is written to its stream (every later event resolves to the survivor).
 */
async function broughtTo(
  platform: Platform,
  splitId: string,
  merge: Pick<RecordedMerge, 'mergeId' | 'position'>,
): Promise<{ identifiers: string[]; restoredIds: string[] }> {
  const identifiers = new Set<string>();
  const seen = new Set<string>();
  const pending = [splitId];
  while (pending.length > 0) {
    const id = pending.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    let afterPointer = false;
    for (const e of (await readStream(platform, id)).events) {
      if (id === splitId && e.type === 'customer.merged-into' && e.eventId === mergePointerEventId(merge.mergeId, splitId)) {
        afterPointer = true;
        continue;
      }
      if (e.position >= merge.position && !afterPointer) continue;
      for (const i of identifiersNamedBy(e)) identifiers.add(identifierKey(i));
      if (e.type === 'customers.merged') pending.push(...(e.data as { mergedIds: string[] }).mergedIds);
    }
  }
  return { identifiers: [...identifiers], restoredIds: [...seen].filter((id) => id !== splitId) };
}

/** The keys (`kind:value`) a split takes: those named, else all its customer brought (as decideUnmerge). */
function movedPlainKeys(split: SplitRequest, brought: Map<string, { identifiers: string[] }>): string[] {
  return split.identifiers ? [...new Set(split.identifiers)] : [...(brought.get(split.splitId)?.identifiers ?? [])];
}

const envelopeIdentifiers = (e: Pick<RecordedEvent, 'metadata'>): Identifier[] =>
  (((e.metadata as { identifiers?: Identifier[] }).identifiers ?? []) as Identifier[]).filter(
    (i) => typeof i?.kind === 'string' && typeof i?.value === 'string',
  );

/** The identifiers a stored event names: its envelope's, a registration's, an `identifiers.linked` payload's. */
export function identifiersNamedBy(e: Pick<RecordedEvent, 'type' | 'data' | 'metadata'>): Identifier[] {
  const out: Identifier[] = [...(((e.metadata as { identifiers?: Identifier[] }).identifiers ?? []) as Identifier[])];
  if (e.type === 'customer.registered' || e.type === 'identifiers.linked')
    out.push(...(((e.data as { identifiers?: Identifier[] }).identifiers ?? []) as Identifier[]));
  // erased events read without values: nothing to name
  return out.filter((i) => typeof i?.kind === 'string' && typeof i?.value === 'string');
}
