import type { ProjectedRecord } from '../projector/projected-record';
import { caseContribution, caseSlices, foldCase, type CaseFacts, type CaseRecord } from './case-facts';

let position = 0;
const rec = (type: CaseRecord['type'], occurredAt: string, data: Record<string, unknown>, agentId?: string): CaseRecord =>
  ({
    position: ++position,
    eventId: `e${position}`,
    streamId: 'customer-c1',
    revision: position,
    recordedAt: occurredAt,
    type,
    data: { caseId: 'K', ...data },
    metadata: { schemaVersion: 1, occurredAt, customerId: 'c1', source: 'desk', channel: 'chat', ...(agentId ? { agentId } : {}) },
  }) as unknown as ProjectedRecord as CaseRecord;

const fold = (records: CaseRecord[], segment = 'low'): CaseFacts =>
  records.reduce<CaseFacts | undefined>(
    (c, r) => foldCase(c, r, { channel: 'chat', source: 'desk', segment, segmentIds: segment === 'high' ? ['vip'] : [] }),
    undefined,
  )!;

describe('case facts: one case per case id, folded in any order', () => {
  const events = [
    rec('case.opened', '2026-04-01T08:00:00.000Z', { category: 'billing' }, 'a1'),
    rec('case.resolved', '2026-04-02T08:00:00.000Z', { firstContactResolution: true }),
    rec('case.reopened', '2026-04-03T08:00:00.000Z', {}),
    rec('case.assigned', '2026-04-03T09:00:00.000Z', { assignee: 'a2' }),
    rec('case.escalated', '2026-04-03T10:00:00.000Z', {}),
    rec('case.resolved', '2026-04-05T08:00:00.000Z', { firstContactResolution: false }),
    rec('case.opened', '2026-04-01T08:00:00.000Z', { category: 'other' }), // a repeated opening: same case
  ];

  it('gives the same facts whatever the order of its events', () => {
    const forward = fold(events);
    const backward = fold([...events].reverse());
    expect({ ...backward, lastPosition: 0 }).toEqual({ ...forward, lastPosition: 0 });
    expect(forward).toMatchObject({ reopens: 1, escalations: 1, status: { value: 'resolved', at: '2026-04-05T08:00:00.000Z' } });
    expect(caseSlices(forward)).toEqual({
      channel: 'chat',
      source: 'desk',
      segment: 'low',
      agent: 'a2',
      category: 'billing',
      segmentIds: [],
    });
  });

  it('contributes an opening, a finish and its final resolution (reopened: counted to the final one)', () => {
    const [opening, finish, resolution] = caseContribution(fold(events));
    expect(opening).toEqual({
      at: '2026-04-01T08:00:00.000Z',
      totals: { c: { casesOpened: 1, casesReopened: 1, casesEscalated: 1 }, h: {} },
    });
    expect(finish).toEqual({ at: '2026-04-05T08:00:00.000Z', totals: { c: { casesFinished: 1 }, h: {} } });
    expect(resolution.at).toBe('2026-04-05T08:00:00.000Z');
    expect(resolution.totals.c).toEqual({ casesResolved: 1, resolutionMsSum: 4 * 86_400_000, casesFcrKnown: 1 });
  });

  it('an open case (reopened last) contributes its opening only; a case closed without resolution finishes without a resolution time', () => {
    expect(caseContribution(fold(events.slice(0, 3)))).toHaveLength(1);
    const closed = caseContribution(
      fold([rec('case.opened', '2026-04-01T08:00:00.000Z', {}), rec('case.closed', '2026-04-02T08:00:00.000Z', {})]),
    );
    expect(closed.map((c) => Object.keys(c.totals.c))).toEqual([['casesOpened'], ['casesFinished']]);
  });

  it('a late event earlier than the opening moves the opening and takes its slices', () => {
    const late = rec('case.status-changed', '2026-03-31T08:00:00.000Z', { status: 'waiting' }, 'a9');
    const c = fold([...events, late], 'high');
    expect(c.opening).toMatchObject({ at: '2026-03-31T08:00:00.000Z', agent: 'a9', segment: 'high', segmentIds: ['vip'] });
    expect(caseContribution(c)[2].totals.c.resolutionMsSum).toBe(5 * 86_400_000);
  });
});
