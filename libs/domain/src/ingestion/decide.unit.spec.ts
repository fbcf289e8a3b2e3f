import { given, givenEvents } from '../../../../test/support/given-when-then';
import type { TouchpointCommand } from '../events';
import {
  chooseSurvivor,
  decideMerge,
  decideSharedIdentifierMerge,
  mergeCarriedOut,
  mergeEventId,
  mergePointerEventId,
} from './decide-merge';
import { decideIngest, identifiersOf } from './decide-ingest';
import { customerStream, decideMergeEventOnStream, registrationEventId } from './customer-stream';

const command: TouchpointCommand = {
  eventId: '7f0c2c1e-6a8e-4c36-9d59-1b1c3c3e0a01',
  type: 'contact.handled',
  schemaVersion: 1,
  occurredAt: '2026-11-20T08:15:00.000Z',
  source: 'genesys',
  channel: 'phone',
  identifiers: [{ kind: 'email', value: 'ana@example.com' }],
  data: { direction: 'inbound', handleSeconds: 300, resolved: true },
};
const ctx = { customerId: 'c-1', registrationEventId: 'reg-1' };

describe('decideIngest', () => {
  it('registers the customer before the first event of a new stream', () => {
    given({ revision: -1 })
      .when((c: TouchpointCommand, s) => decideIngest(c, s, ctx), command)
      .then((events) => {
        expect(events.map((e) => e.type)).toEqual(['customer.registered', 'contact.handled']);
        expect(events[0]).toMatchObject({
          eventId: 'reg-1',
          data: { customerId: 'c-1', identifiers: command.identifiers },
          metadata: { causationId: command.eventId },
        });
        expect(events[1]).toMatchObject({
          eventId: command.eventId,
          data: command.data,
          metadata: { customerId: 'c-1', channel: 'phone', occurredAt: command.occurredAt },
        });
      });
  });

  it('only records the event on an existing stream', () => {
    given({ revision: 4 })
      .when((c: TouchpointCommand, s) => decideIngest(c, s, ctx), command)
      .then((events) => expect(events.map((e) => e.type)).toEqual(['contact.handled']));
  });

  it('resolves identity by the envelope identifiers plus those an identifiers.linked event links', () => {
    const linked: TouchpointCommand = {
      ...command,
      type: 'identifiers.linked',
      data: {
        identifiers: [
          { kind: 'crm', value: 'C-9' },
          { kind: 'email', value: 'ana@example.com' },
        ],
      },
    };
    expect(identifiersOf(linked)).toEqual([
      { kind: 'email', value: 'ana@example.com' },
      { kind: 'crm', value: 'C-9' },
    ]);
  });
});

describe('the customer stream decider', () => {
  const record = { customerId: 'c-1', touchpoint: command };
  const [registration, first] = customerStream.decide(record, customerStream.initialState);
  const later: TouchpointCommand = {
    ...command,
    eventId: '7f0c2c1e-6a8e-4c36-9d59-1b1c3c3e0a02',
    type: 'web.visited',
    data: { url: 'https://example.com/help' },
  };

  it('given no events, registers the customer (deterministic id) before its first event', () => {
    givenEvents(customerStream, [])
      .when(record)
      .then((events) => {
        expect(events.map((e) => [e.type, e.eventId])).toEqual([
          ['customer.registered', registrationEventId('c-1')],
          ['contact.handled', command.eventId],
        ]);
        expect(events[0]).toMatchObject({
          data: { customerId: 'c-1', identifiers: command.identifiers },
          metadata: { customerId: 'c-1', causationId: command.eventId },
        });
      });
  });

  it('given a registration and an event, only records the next event', () => {
    givenEvents(customerStream, [registration, first])
      .when({ customerId: 'c-1', touchpoint: later })
      .then((events) => {
        expect(events.map((e) => [e.type, e.eventId])).toEqual([['web.visited', later.eventId]]);
        expect(events[0].metadata).toMatchObject({
          customerId: 'c-1',
          channel: 'phone',
          occurredAt: command.occurredAt,
          identifiers: command.identifiers,
        });
      });
  });

  it('folds events into the revision the next append expects', () => {
    expect([registration, first].reduce(customerStream.evolve, customerStream.initialState)).toEqual({ revision: 1 });
    expect(registrationEventId('c-1')).toBe(registrationEventId('c-1'));
    expect(registrationEventId('c-1')).not.toBe(registrationEventId('c-2'));
  });
});

describe('merges', () => {
  it('keeps the earliest registered customer, whatever the order of the candidates', () => {
    const a = { customerId: 'zz', registeredSeq: 1 };
    const b = { customerId: 'aa', registeredSeq: 7 };
    expect(chooseSurvivor([b, a])).toEqual({ survivorId: 'zz', mergedIds: ['aa'] });
    expect(chooseSurvivor([a, b])).toEqual({ survivorId: 'zz', mergedIds: ['aa'] });
    expect(() => chooseSurvivor([a])).toThrow();
  });

  it('records the merge with its evidence on the survivor and a pointer on each merged stream', () => {
    const out = decideMerge(
      {
        mergeId: 'm-1',
        survivorId: 's',
        mergedIds: ['x', 'y'],
        evidence: {
          identifiers: ['email:a@b.c'],
          rule: 'shared-identifier',
          triggeringEventId: 'e-1',
          survivorRule: 'earliest-registered',
        },
        occurredAt: '2026-01-01T00:00:00.000Z',
        source: 'crm',
      },
      (id) => `p-${id}`,
    );
    expect(out.map((o) => [o.streamCustomerId, o.event.type, o.event.eventId])).toEqual([
      ['s', 'customers.merged', 'm-1'],
      ['x', 'customer.merged-into', 'p-x'],
      ['y', 'customer.merged-into', 'p-y'],
    ]);
    expect(out[0].event.data).toMatchObject({ evidence: { rule: 'shared-identifier', identifiers: ['email:a@b.c'] } });
  });

  const trigger = { triggeringEventId: 'e-7', occurredAt: '2026-01-01T00:00:00.000Z', source: 'crm' };
  const owners = [
    { customerId: 'late', registeredSeq: 9, identifierKeys: ['email:b@x.io'] },
    { customerId: 'early', registeredSeq: 2, identifierKeys: ['phone:+4479', 'crm:C-1'] },
    { customerId: 'mid', registeredSeq: 5, identifierKeys: ['cookie:k'] },
  ];

  it('decides a shared-identifier merge: survivor by rule, evidence of every key, a deterministic id', () => {
    const merge = decideSharedIdentifierMerge(owners, trigger);
    expect(merge).toEqual({
      mergeId: mergeEventId('early', ['late', 'mid'], 'e-7'),
      survivorId: 'early',
      mergedIds: ['mid', 'late'],
      evidence: {
        identifiers: ['cookie:k', 'crm:C-1', 'email:b@x.io', 'phone:+4479'],
        rule: 'shared-identifier',
        triggeringEventId: 'e-7',
        survivorRule: 'earliest-registered',
      },
      occurredAt: trigger.occurredAt,
      source: 'crm',
    });
    // the order of the owners changes nothing
    expect(decideSharedIdentifierMerge([...owners].reverse(), trigger)).toEqual(merge);
  });

  it('narrows a merge to the merged ids carried out, with an id of its own', () => {
    const merge = decideSharedIdentifierMerge(owners, trigger);
    expect(mergeCarriedOut(merge, ['mid', 'late'])).toBe(merge);
    expect(mergeCarriedOut(merge, [])).toBeUndefined();
    const part = mergeCarriedOut(merge, ['late'])!;
    expect(part).toEqual({ ...merge, mergeId: mergeEventId('early', ['late'], 'e-7'), mergedIds: ['late'] });
    expect(part.mergeId).not.toBe(merge.mergeId);
  });

  it('names the merged-into pointers by the merge id unless told otherwise', () => {
    const merge = decideSharedIdentifierMerge(owners, trigger);
    expect(decideMerge(merge).map((o) => o.event.eventId)).toEqual([
      merge.mergeId,
      mergePointerEventId(merge.mergeId, 'mid'),
      mergePointerEventId(merge.mergeId, 'late'),
    ]);
  });

  it('opens a stream that does not exist yet with the registration, caused by the merge', () => {
    const merge = decideSharedIdentifierMerge(owners, trigger);
    const [, pointer] = decideMerge(merge);
    const events = decideMergeEventOnStream('mid', pointer.event, customerStream.initialState);
    expect(events.map((e) => e.type)).toEqual(['customer.registered', 'customer.merged-into']);
    expect(events[0]).toMatchObject({
      eventId: registrationEventId('mid'),
      data: { customerId: 'mid', identifiers: [] },
      metadata: { customerId: 'mid', causationId: pointer.event.eventId, occurredAt: pointer.event.metadata.occurredAt },
    });
    expect(decideMergeEventOnStream('mid', pointer.event, { revision: 0 })).toEqual([pointer.event]);
  });
});
