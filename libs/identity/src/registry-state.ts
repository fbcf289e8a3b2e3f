import {
  customerIdOfStream,
  followMergeChain,
  type CustomersMergedV1,
  type CustomersUnmergedV1,
  type Identifier,
  type PersonalDataErasedV1,
} from '@cem/domain';
import type { RecordedEvent } from '@cem/event-store';
import type { IdentityConflict, PendingMerge, RegistryCustomer, RegistryState } from './port';

/**
 * The running derivation of a registry's state from the log, fed page by page (foldRegistryEvents),
 * then finished (registryStateOf).
 */
export interface RegistryDerivation {
  /** key -> customer; `order` is the registration rank (fractional while a survivor is moved before the customers it absorbed) */
  customers: Map<string, { order: number; mergedInto?: string; erased: boolean }>;
  owners: Map<string, string>;
  /** owner -> the keys it owns (the reverse of `owners`, so a merge moves a customer's keys without a scan) */
  owned: Map<string, Set<string>>;
  merges: PendingMerge[];
  apart: Map<string, [string, string]>;
  unmerges: RegistryState['unmerges'];
  conflicts: IdentityConflict[];
  next: number;
}

export const emptyRegistryDerivation = (): RegistryDerivation => ({
  customers: new Map(),
  owners: new Map(),
  owned: new Map(),
  merges: [],
  apart: new Map(),
  unmerges: [],
  conflicts: [],
  next: 1,
});

/**
 * Folds events of the log, in log order and as readers see them (decrypted), into the registry's
 * state. Pure: `keyOf` keys an identifier as the target registry does (plain or the blind index).
 *
 * Replaying the registry's resolution cannot give its state exactly (an ingested batch is written
 * grouped by customer stream, not in the order it was resolved), so the state is derived from what
 * the log records instead:
 * - a customer exists from its `customer.registered` (or the first merge naming it);
 * - an identifier belongs to the customer of the first event naming it (its envelope identifiers,
 *   and those an `identifiers.linked` links), followed to that customer's survivor at that point of
 *   the log; an event marked with an identity conflict claims nothing (the registry did not either);
 * - `customers.merged` moves the merged customers' identifiers to the survivor, which comes before
 *   them in registration order (the survivor rule, whatever order the batch wrote the streams in);
 * - `customers.unmerged` makes the split customer live again, gives it the identifiers the event
 *   names (already keyed as the registry keys them), its restored customers follow it again, and the
 *   pair is kept apart;
 * - `personal-data.erased` releases every identifier its customers own, clears the identifier keys
 *   of their merges' evidence, and marks them erased.
 * Events whose identifiers were erased (their key destroyed) name none: they belong to erased customers.
 */
export function foldRegistryEvents(d: RegistryDerivation, events: readonly RecordedEvent[], keyOf: (id: Identifier) => string): void {
  const known = (customerId: string) => {
    let c = d.customers.get(customerId);
    if (!c) d.customers.set(customerId, (c = { order: d.next++, erased: false }));
    return c;
  };
  const canonical = (customerId: string) => followMergeChain(customerId, (id) => d.customers.get(id)?.mergedInto);
  const own = (key: string, owner: string) => {
    const before = d.owners.get(key);
    if (before !== undefined) d.owned.get(before)?.delete(key);
    d.owners.set(key, owner);
    let keys = d.owned.get(owner);
    if (!keys) d.owned.set(owner, (keys = new Set()));
    keys.add(key);
  };
  /** every key `from` own goes to `to` (or is released when `to` is undefined) */
  const moveOwned = (from: Iterable<string>, to: string | undefined) => {
    for (const customerId of from) {
      const keys = d.owned.get(customerId);
      if (!keys || customerId === to) continue;
      d.owned.delete(customerId);
      for (const key of keys) {
        if (to === undefined) d.owners.delete(key);
        else own(key, to);
      }
    }
  };

  for (const e of events) {
    const streamCustomer = customerIdOfStream(e.streamId);
    if (streamCustomer === undefined) continue; // ops records, the log's own streams: no customer
    const metadata = (e.metadata ?? {}) as { identifiers?: unknown; identityConflict?: unknown; occurredAt?: string; source?: string };
    switch (e.type) {
      case 'customers.merged': {
        const m = e.data as CustomersMergedV1;
        const survivor = known(m.survivorId);
        for (const id of m.mergedIds) {
          const merged = known(id);
          merged.mergedInto = m.survivorId;
          // the survivor rule chose the earliest registered: keep that order whatever order the streams were written in
          if (merged.order < survivor.order) survivor.order = merged.order - 1 / (d.next + 1);
        }
        moveOwned(m.mergedIds, m.survivorId);
        d.merges.push({
          mergeId: e.eventId,
          survivorId: m.survivorId,
          mergedIds: [...m.mergedIds],
          evidence: { ...m.evidence, identifiers: (m.evidence.identifiers ?? []).filter((k) => typeof k === 'string') },
          occurredAt: metadata.occurredAt ?? e.recordedAt,
          source: metadata.source ?? '',
        });
        continue;
      }
      case 'customer.merged-into': {
        // the merged-away stream's pointer: its stream may come before the survivor's in the log
        const { survivorId } = e.data as { survivorId: string };
        known(survivorId);
        known(streamCustomer).mergedInto = survivorId;
        moveOwned([streamCustomer], survivorId);
        continue;
      }
      case 'customers.unmerged': {
        const u = e.data as CustomersUnmergedV1;
        known(u.survivorId);
        delete known(u.splitId).mergedInto;
        for (const id of u.restoredIds ?? []) known(id).mergedInto = u.splitId;
        for (const key of u.identifiers ?? []) if (typeof key === 'string') own(key, u.splitId);
        const pair = [u.survivorId, u.splitId].sort() as [string, string];
        d.apart.set(pair.join(' '), pair);
        d.unmerges.push({ unmergeId: e.eventId, survivorId: u.survivorId, splitId: u.splitId });
        continue;
      }
      case 'personal-data.erased': {
        const erased = new Set((e.data as PersonalDataErasedV1).erasedCustomerIds ?? []);
        for (const id of erased) known(id).erased = true;
        moveOwned(erased, undefined);
        for (const m of d.merges)
          if (erased.has(m.survivorId) || m.mergedIds.some((id) => erased.has(id))) m.evidence = { ...m.evidence, identifiers: [] };
        continue;
      }
    }
    known(streamCustomer);
    if (Array.isArray(metadata.identityConflict)) {
      d.conflicts.push({
        triggeringEventId: e.eventId,
        customerIds: metadata.identityConflict.filter((id): id is string => typeof id === 'string'),
        occurredAt: metadata.occurredAt ?? e.recordedAt,
        source: metadata.source ?? '',
        recordedAt: e.recordedAt,
      });
      continue; // a conflict claims no identifier
    }
    const named = identifiersNamed(e);
    if (named.length === 0) continue;
    const owner = canonical(streamCustomer);
    if (d.customers.get(owner)?.erased) continue;
    for (const id of named) {
      const key = keyOf(id);
      if (!d.owners.has(key)) own(key, owner);
    }
  }
}

/** The state derived so far: customers in registration order, every owner a live customer. */
export function registryStateOf(d: RegistryDerivation): RegistryState {
  const canonical = (customerId: string) => followMergeChain(customerId, (id) => d.customers.get(id)?.mergedInto);
  const customers = [...d.customers]
    .sort(([a, x], [b, y]) => x.order - y.order || a.localeCompare(b))
    .map(([customerId, c]): RegistryCustomer => ({ customerId, erased: c.erased, ...(c.mergedInto ? { mergedInto: c.mergedInto } : {}) }));
  const identifiers = new Map<string, string>();
  for (const [key, owner] of d.owners) {
    const live = canonical(owner);
    if (!d.customers.get(live)?.erased) identifiers.set(key, live);
  }
  return {
    customers,
    identifiers,
    merges: d.merges,
    apart: [...d.apart.values()],
    unmerges: d.unmerges,
    conflicts: d.conflicts,
  };
}

/** The identifiers an event names in clear: the envelope's, and those an `identifiers.linked` or a registration carries. */
function identifiersNamed(e: RecordedEvent): Identifier[] {
  const out: Identifier[] = [];
  const add = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const i of list)
      if (i && typeof i === 'object' && typeof (i as Identifier).kind === 'string' && typeof (i as Identifier).value === 'string')
        out.push(i as Identifier);
  };
  add((e.metadata as { identifiers?: unknown } | undefined)?.identifiers);
  if (e.type === 'identifiers.linked' || e.type === 'customer.registered')
    add((e.data as { identifiers?: unknown } | undefined)?.identifiers);
  return out;
}

/** Derives a registry's state from a whole log (see foldRegistryEvents). */
export function deriveRegistryState(events: readonly RecordedEvent[], keyOf: (id: Identifier) => string): RegistryState {
  const d = emptyRegistryDerivation();
  foldRegistryEvents(d, events, keyOf);
  return registryStateOf(d);
}
