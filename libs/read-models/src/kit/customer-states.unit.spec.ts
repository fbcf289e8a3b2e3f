import type { EventType } from '@cem/domain';
import type { ProjectedRecord } from '../projector/projected-record';
import { CustomerStates, type CustomerKeyedState, type CustomerModel } from './customer-states';

/** A minimal customer-keyed model: which event ids each customer holds, merges concatenate. */
interface Held extends CustomerKeyedState {
  events: string[];
  absorbedFrom: string[];
}
const model: CustomerModel<Held> = {
  empty: (customerId) => ({ customerId, mergedInto: null, lastPosition: 0, events: [], absorbedFrom: [] }),
  absorb(survivor, merged) {
    survivor.events.push(...merged.events);
    survivor.absorbedFrom.push(merged.customerId);
  },
};

let position = 0;
const record = (customer: string, type: EventType, data: unknown = {}, metadata: Record<string, unknown> = {}) =>
  ({
    position: ++position,
    eventId: `e${position}`,
    type,
    streamId: `customer-${customer}`,
    revision: 0,
    data,
    metadata: { schemaVersion: 1, occurredAt: '2026-01-01T00:00:00.000Z', customerId: customer, source: 'test', ...metadata },
    recordedAt: '2026-01-01T00:00:00.000Z',
  }) as ProjectedRecord;
const visit = (c: string) => record(c, 'web.visited', { url: 'https://example.com/' });
const merged = (survivorId: string, mergedIds: string[]) =>
  record(survivorId, 'customers.merged', {
    survivorId,
    mergedIds,
    evidence: {
      identifiers: ['email:x@example.com'],
      rule: 'shared-identifier',
      triggeringEventId: 't',
      survivorRule: 'earliest-registered',
    },
  });
const pointer = (customerId: string, survivorId: string) => record(customerId, 'customer.merged-into', { customerId, survivorId });

/** Folds records the way a projection does: the kit routes, the model keeps the event ids. */
function fold(states: CustomerStates<Held>, records: ProjectedRecord[]) {
  for (const r of records) {
    const route = states.route(r);
    if (route.kind === 'event') route.owner.events.push(r.eventId);
  }
}

describe('customer-keyed kit (CustomerStates)', () => {
  beforeEach(() => (position = 0));

  it('routes an event to its stream customer and skips it when delivered again', () => {
    const states = new CustomerStates(model);
    const a1 = visit('a');
    fold(states, [a1, visit('b'), a1]);
    expect(states.get('a').events).toEqual(['e1']);
    expect(states.get('a').lastPosition).toBe(1);
    expect(states.changedStates().map((s) => s.customerId)).toEqual(['a', 'b']);
  });

  it('a merge folds the merged-away customer into the survivor; later events of its stream go to the survivor', () => {
    const states = new CustomerStates(model);
    fold(states, [visit('a'), visit('b'), merged('a', ['b']), pointer('b', 'a'), visit('b')]);
    const a = states.get('a');
    expect(a.events).toEqual(['e1', 'e2', 'e5']);
    expect(a.absorbedFrom).toEqual(['b']);
    expect(states.get('b').mergedInto).toBe('a');
    expect(states.canonical('b')).toBe('a');
  });

  it('follows chains: b merged into a, then a into c; b and a both point at c', () => {
    const states = new CustomerStates(model);
    fold(states, [visit('a'), visit('b'), visit('c'), merged('a', ['b']), merged('c', ['a']), visit('b')]);
    expect(states.get('c').events).toEqual(['e3', 'e1', 'e2', 'e6']);
    expect(states.get('b').mergedInto).toBe('c');
    expect(states.get('a').mergedInto).toBe('c');
  });

  it('a merge seen again, or a pointer after its merge, changes nothing', () => {
    const states = new CustomerStates(model);
    const events = [visit('a'), visit('b')];
    const m = merged('a', ['b']);
    fold(states, [...events, m]);
    const before = structuredClone(states.get('a'));
    expect(states.route(m)).toEqual({ kind: 'skip' });
    const route = states.route(pointer('b', 'a'));
    expect(route.kind === 'merge' && route.absorbed).toEqual([]);
    expect(states.get('a').events).toEqual(before.events);
    expect(states.get('a').absorbedFrom).toEqual(['b']);
  });

  it("a pointer that arrives before the survivor's merge event performs the same merge", () => {
    const states = new CustomerStates(model);
    fold(states, [visit('a'), visit('b'), pointer('b', 'a'), merged('a', ['b'])]);
    expect(states.get('a').events).toEqual(['e1', 'e2']);
    expect(states.get('a').absorbedFrom).toEqual(['b']);
  });

  it('loads stored states lazily, and starts a customer nobody stored empty', () => {
    const stored = new Map<string, Held>([['a', { ...model.empty('a'), events: ['old'], lastPosition: 10 }]]);
    const states = new CustomerStates(model, (id) => stored.get(id));
    position = 5;
    fold(states, [visit('a'), visit('z')]); // e6 is at or below a's lastPosition (10): already applied
    expect(states.get('a').events).toEqual(['old']);
    expect(states.get('z').events).toEqual(['e7']);
  });

  it('an event with no customer stream is skipped', () => {
    const states = new CustomerStates(model);
    const r = {
      ...visit('a'),
      streamId: 'ops-1',
      metadata: { ...visit('a').metadata, customerId: undefined },
    } as unknown as ProjectedRecord;
    expect(states.route(r)).toEqual({ kind: 'skip' });
  });
});
