import type { RecordedEvent } from '@cem/event-store';
import { deriveRegistryState } from './registry-state';

/**
 * The registry state derived from a log, on hand-written logs whose answer is known: the order a
 * batch wrote its streams in, a chain of merges, a link, a conflict, an unmerge and an erasure.
 */
describe('deriveRegistryState', () => {
  let position = 0;
  beforeEach(() => (position = 0));
  const ev = (streamCustomer: string, type: string, data: unknown, metadata: Record<string, unknown> = {}): RecordedEvent => ({
    eventId: `e-${++position}`,
    type,
    streamId: `customer-${streamCustomer}`,
    revision: 0,
    position,
    data,
    metadata: { schemaVersion: 1, occurredAt: '2026-11-20T09:00:00.000Z', customerId: streamCustomer, source: 'test', ...metadata },
    recordedAt: '2026-11-21T12:00:00.000Z',
  });
  const email = (name: string) => ({ kind: 'email', value: `${name}@x.example` });
  const key = (name: string) => `email:${name}@x.example`;
  const touch = (customer: string, ...names: string[]) => ev(customer, 'contact.handled', {}, { identifiers: names.map(email) });
  const registered = (customer: string, ...names: string[]) =>
    ev(customer, 'customer.registered', { customerId: customer, identifiers: names.map(email) }, { identifiers: names.map(email) });
  const merged = (survivorId: string, ...mergedIds: string[]) =>
    ev(survivorId, 'customers.merged', {
      survivorId,
      mergedIds,
      evidence: { identifiers: ['email:k'], rule: 'shared-identifier', triggeringEventId: 't', survivorRule: 'earliest-registered' },
    });
  const pointer = (customer: string, survivorId: string) => ev(customer, 'customer.merged-into', { customerId: customer, survivorId });
  const plainKey = (i: { kind: string; value: string }) => `${i.kind}:${i.value}`;

  it('a batch written grouped by stream: the survivor comes first in registration order, identifiers follow the merge', () => {
    // resolved: a (new), b (new), a+b (merge b into a); written: the merge's streams first, then each stream's events
    const s = deriveRegistryState(
      [
        ev('B', 'customer.registered', { customerId: 'B', identifiers: [] }),
        pointer('B', 'A'),
        touch('B', 'b'),
        ev('A', 'customer.registered', { customerId: 'A', identifiers: [] }),
        merged('A', 'B'),
        touch('A', 'a'),
        touch('A', 'a', 'b'),
        registered('C', 'c'),
        touch('C', 'c'),
      ],
      plainKey,
    );
    expect(s.customers.map((c) => [c.customerId, c.mergedInto ?? null])).toEqual([
      ['A', null],
      ['B', 'A'],
      ['C', null],
    ]);
    expect(Object.fromEntries(s.identifiers)).toEqual({ [key('a')]: 'A', [key('b')]: 'A', [key('c')]: 'C' });
    expect(s.merges.map((m) => [m.survivorId, m.mergedIds])).toEqual([['A', ['B']]]);
  });

  it('a chain of merges, a link, a conflict (claims nothing), an unmerge (moves the named keys, keeps the pair apart)', () => {
    const s = deriveRegistryState(
      [
        registered('H', 'h'),
        registered('G', 'g'),
        registered('F', 'f'),
        merged('G', 'F'),
        merged('H', 'G'),
        ev('H', 'identifiers.linked', { identifiers: [email('h2')] }, { identifiers: [email('h')] }),
        registered('X', 'x', 'x2'),
        merged('H', 'X'),
        ev(
          'H',
          'customers.unmerged',
          {
            survivorId: 'H',
            splitId: 'X',
            restoredIds: [],
            mergeId: 'm',
            mergePosition: 8,
            identifiers: [key('x')],
            reattributedEventIds: [],
          },
          { customerId: 'H' },
        ),
        touch('H', 'h', 'x', 'new'), // a conflict: the new identifier is not claimed
      ].map((e, i, all) => (i === all.length - 1 ? { ...e, metadata: { ...e.metadata, identityConflict: ['H', 'X'] } } : e)),
      plainKey,
    );
    expect(s.customers.map((c) => [c.customerId, c.mergedInto ?? null])).toEqual([
      ['H', null],
      ['G', 'H'],
      ['F', 'G'],
      ['X', null],
    ]);
    expect(Object.fromEntries(s.identifiers)).toEqual({
      [key('h')]: 'H',
      [key('g')]: 'H',
      [key('f')]: 'H',
      [key('h2')]: 'H',
      [key('x')]: 'X',
      [key('x2')]: 'H', // not named by the unmerge: stays with the survivor
    });
    expect(s.apart).toEqual([['H', 'X']]);
    expect(s.unmerges).toEqual([{ unmergeId: 'e-9', survivorId: 'H', splitId: 'X' }]);
    expect(s.conflicts).toEqual([
      {
        triggeringEventId: 'e-10',
        customerIds: ['H', 'X'],
        occurredAt: '2026-11-20T09:00:00.000Z',
        source: 'test',
        recordedAt: '2026-11-21T12:00:00.000Z',
      },
    ]);
  });

  it('an erasure releases its customers identifiers and clears their merges evidence; a later event claims one anew', () => {
    const s = deriveRegistryState(
      [
        registered('E', 'e'),
        registered('M', 'm'),
        merged('E', 'M'),
        ev('E', 'personal-data.erased', { customerId: 'E', erasedCustomerIds: ['E', 'M'] }),
        // the erased customers' events, read after their keys were destroyed, name no identifier
        ev('E', 'contact.handled', {}, { identifiers: [{ kind: 'email' }] }),
        registered('N', 'e'),
      ],
      plainKey,
    );
    expect(s.customers.map((c) => [c.customerId, c.erased])).toEqual([
      ['E', true],
      ['M', true],
      ['N', false],
    ]);
    expect(Object.fromEntries(s.identifiers)).toEqual({ [key('e')]: 'N' });
    expect(s.merges[0].evidence.identifiers).toEqual([]);
  });

  it('keys identifiers as the registry does (the blind index when on)', () => {
    const s = deriveRegistryState([registered('A', 'a')], (i) => `${i.kind}:bi1.${i.value.length}`);
    expect([...s.identifiers.keys()]).toEqual(['email:bi1.11']);
  });
});
