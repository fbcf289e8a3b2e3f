import {
  isIdentifierPath,
  isSealed,
  mapPath,
  personalPathsOf,
  PLAIN_STORED_VALUES,
  REMOVED,
  type PathPattern,
  type StoredValueSeal,
  type StoredValues,
} from '@cem/privacy';
import type { Customer360State } from './customer-360.state';

/**
 * The customer 360 keeps identifiers in its document (`identifiers`, for display) and in the payload of
 * its timeline rows (registrations, links, merge evidence). With privacy on they are stored sealed
 * with the customer's data key (the document's customer; a timeline row's stream customer, whose key
 * sealed the event), in the log's per-field format, and opened when a batch loads a document or a
 * query serves one. After an erasure the key is gone and they read as removed. A document or row
 * stored before (plain values) reads as it is.
 */

type Identifiers = Customer360State['identifiers'];

function mapIdentifiers(identifiers: Identifiers, fn: (value: unknown) => unknown): Identifiers {
  const out: Identifiers = {};
  for (const kind of Object.keys(identifiers)) {
    const values: string[] = [];
    for (const v of identifiers[kind]) {
      const mapped = fn(v);
      if (mapped !== REMOVED) values.push(mapped as string);
    }
    if (values.length > 0) out[kind] = values;
  }
  return out;
}

/**
 * The merge history names the identifiers that proved each merge: blind keys when the index is blind,
 * but `kind:value` in plain for merges recorded before it was; sealed like the rest.
 */
function mapMerges(merges: Customer360State['merges'], fn: (value: unknown) => unknown): Customer360State['merges'] {
  if (!merges.some((m) => m.kind === 'absorbed' && m.identifiers.length > 0)) return merges;
  return merges.map((m) =>
    m.kind === 'absorbed' && m.identifiers.length > 0
      ? { ...m, identifiers: m.identifiers.map(fn).filter((v): v is string => v !== REMOVED) as string[] }
      : m,
  );
}

const holdsIdentifiers = (s: Customer360State): boolean =>
  Object.keys(s.identifiers).length > 0 || s.merges.some((m) => m.kind === 'absorbed' && m.identifiers.length > 0);
const holdsSealed = (s: Customer360State): boolean =>
  Object.values(s.identifiers).some((values) => values.some(isSealed)) ||
  s.merges.some((m) => m.kind === 'absorbed' && m.identifiers.some(isSealed));

/** The stored document of each state (its identifiers sealed), by customer id. */
export async function storedDocuments(states: readonly Customer360State[], stored: StoredValues): Promise<Map<string, string>> {
  const owners = stored.sealed ? states.filter(holdsIdentifiers).map((s) => s.customerId) : [];
  const seals = owners.length > 0 ? await stored.forWriting(owners) : new Map<string, StoredValueSeal>();
  return new Map(
    states.map((s) => {
      const seal = seals.get(s.customerId);
      // spread keeps the keys' order: the document stays deterministic (documentJson)
      const sealValue = (v: unknown) => seal?.seal(v);
      const doc = seal ? { ...s, identifiers: mapIdentifiers(s.identifiers, sealValue), merges: mapMerges(s.merges, sealValue) } : s;
      return [s.customerId, JSON.stringify(doc)];
    }),
  );
}

/** Opens the identifiers of stored states in place (one key lookup for all of them). */
export async function openStates(states: readonly Customer360State[], stored: StoredValues = PLAIN_STORED_VALUES): Promise<void> {
  const sealed = states.filter(holdsSealed);
  if (sealed.length === 0) return;
  const seals = await stored.forReading(sealed.map((s) => s.customerId));
  for (const s of sealed) {
    const seal = seals.get(s.customerId)!;
    const open = (v: unknown) => seal.open(v);
    s.identifiers = mapIdentifiers(s.identifiers, open);
    s.merges = mapMerges(s.merges, open);
  }
}

const identifierPathsCache = new Map<string, readonly PathPattern[]>();
/** The payload paths of an event type that hold identifiers (registrations, links, merge evidence). */
function identifierPathsOf(type: string): readonly PathPattern[] {
  let paths = identifierPathsCache.get(type);
  if (!paths) identifierPathsCache.set(type, (paths = personalPathsOf(type).data.filter(isIdentifierPath)));
  return paths;
}

/** true when rows of this event type hold identifiers in their payload */
export const timelineHoldsIdentifiers = (type: string): boolean => identifierPathsOf(type).length > 0;

interface TimelineData {
  type: string;
  /** the customer whose stream (and key) the event belongs to */
  streamCustomerId: string;
  data: unknown;
}

async function mapTimeline<T extends TimelineData>(
  rows: readonly T[],
  stored: StoredValues,
  seals: (ids: string[]) => Promise<Map<string, StoredValueSeal>>,
  apply: (seal: StoredValueSeal, value: unknown) => unknown,
): Promise<T[]> {
  const holding = stored.sealed ? rows.filter((r) => timelineHoldsIdentifiers(r.type) && r.data !== null) : [];
  if (holding.length === 0) return rows as T[];
  const byCustomer = await seals([...new Set(holding.map((r) => r.streamCustomerId))]);
  return rows.map((r) => {
    if (!timelineHoldsIdentifiers(r.type) || r.data === null) return r;
    const seal = byCustomer.get(r.streamCustomerId)!;
    const data = identifierPathsOf(r.type).reduce<unknown>((node, p) => mapPath(node, p, (v) => apply(seal, v), 'data'), r.data);
    return { ...r, data };
  });
}

/** Timeline payloads as stored: their identifiers sealed with the stream customer's key. */
export const sealTimeline = <T extends TimelineData>(rows: readonly T[], stored: StoredValues): Promise<T[]> =>
  mapTimeline(
    rows,
    stored,
    (ids) => stored.forWriting(ids),
    (seal, v) => seal.seal(v),
  );

/** Timeline payloads as served: their identifiers opened. */
export const openTimeline = <T extends TimelineData>(rows: readonly T[], stored: StoredValues = PLAIN_STORED_VALUES): Promise<T[]> =>
  mapTimeline(
    rows,
    stored,
    (ids) => stored.forReading(ids),
    (seal, v) => seal.open(v),
  );
