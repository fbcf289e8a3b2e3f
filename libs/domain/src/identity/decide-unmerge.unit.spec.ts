import { decideUnmerge, unmergeEventId, UnmergeRefusedError, type UnmergeFacts } from './decide-unmerge';

describe('decideUnmerge', () => {
  const facts: UnmergeFacts = {
    survivorId: 'A',
    merges: [
      { mergeId: 'm1', position: 10, mergedIds: ['B'] },
      { mergeId: 'm2', position: 20, mergedIds: ['C', 'D'] },
    ],
    undone: [{ mergeId: 'm2', splitId: 'D' }],
    brought: new Map([
      ['B', { identifiers: ['email:b@example.com', 'phone:+31201234567'], restoredIds: ['E'] }],
      ['C', { identifiers: ['email:c@example.com'], restoredIds: [] }],
    ]),
    survivorEvents: [
      { eventId: 'before', position: 5, identifiers: ['email:b@example.com'] },
      { eventId: 'only-b', position: 11, identifiers: ['email:b@example.com', 'phone:+31201234567'] },
      { eventId: 'both', position: 12, identifiers: ['email:a@example.com', 'email:b@example.com'] },
      { eventId: 'none', position: 13, identifiers: [] },
    ],
  };
  const request = { reason: ' case 42 ', requestedBy: { kind: 'named' as const, name: 'ops' }, now: '2026-02-01T00:00:00.000Z' };
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(UnmergeRefusedError);
      return [(e as UnmergeRefusedError).field, (e as UnmergeRefusedError).code];
    }
    throw new Error('expected a refusal');
  };

  it('splits off a merged customer with every identifier it brought, recording the evidence', () => {
    const [event] = decideUnmerge(facts, { ...request, splits: [{ splitId: 'B' }] });
    expect(event).toEqual({
      eventId: unmergeEventId('m1', 'B'),
      type: 'customers.unmerged',
      data: {
        survivorId: 'A',
        splitId: 'B',
        restoredIds: ['E'],
        mergeId: 'm1',
        mergePosition: 10,
        identifiers: ['email:b@example.com', 'phone:+31201234567'],
        reattributedEventIds: ['only-b'],
        requestedBy: { kind: 'named', name: 'ops' },
        reason: 'case 42',
        unmergedAt: request.now,
      },
      metadata: { schemaVersion: 1, occurredAt: request.now, customerId: 'A', source: 'cem/unmerge', causationId: 'm1' },
    });
  });

  it('keys the identifiers as the registry does, and re-attributes only events carrying nothing but moved identifiers', () => {
    const [event] = decideUnmerge(facts, {
      ...request,
      splits: [{ splitId: 'B', identifiers: ['email:b@example.com'] }],
      indexKeyOf: (k) => `bi:${k.length}`,
    });
    expect(event.data.identifiers).toEqual(['bi:19']);
    expect(event.data.reattributedEventIds).toEqual([]);
  });

  it('takes only the identifiers named, and several customers at once', () => {
    const events = decideUnmerge(facts, { ...request, splits: [{ splitId: 'B', identifiers: ['email:b@example.com'] }, { splitId: 'C' }] });
    expect(events.map((e) => [e.data.splitId, e.data.mergeId, e.data.identifiers])).toEqual([
      ['B', 'm1', ['email:b@example.com']],
      ['C', 'm2', ['email:c@example.com']],
    ]);
  });

  it.each([
    ['a missing reason', { reason: '  ', splits: [{ splitId: 'B' }] }, ['reason', 'missing-reason']],
    ['a customer never merged into it', { splits: [{ splitId: 'X' }] }, ['split', 'never-merged']],
    ['the survivor itself', { splits: [{ splitId: 'A' }] }, ['split', 'invalid']],
    ['a merge already undone', { splits: [{ splitId: 'D' }] }, ['split', 'already-unmerged']],
    [
      'an identifier it did not bring',
      { splits: [{ splitId: 'B', identifiers: ['email:c@example.com'] }] },
      ['identifiers', 'not-in-merge'],
    ],
    ['no customer named', { splits: [] }, ['split', 'invalid']],
    ['a customer named twice', { splits: [{ splitId: 'B' }, { splitId: 'B' }] }, ['split', 'invalid']],
  ])('refuses %s, naming the field', (_, req, expected) => {
    expect(refusal(() => decideUnmerge(facts, { ...request, ...req }))).toEqual(expected);
  });

  it('never puts identifier values in a refusal (they are personal data)', () => {
    try {
      decideUnmerge(facts, { ...request, splits: [{ splitId: 'B', identifiers: ['email:secret@example.com'] }] });
    } catch (e) {
      expect((e as Error).message).not.toContain('secret');
    }
  });
});
