import type { ProjectedRecord } from '../projector/projected-record';
import { parseMilestoneDefinitions } from './milestone-definitions';
import { evolveMilestones, milestonesModel, progressOf, statusAt } from './milestones.model';

const { milestones } = parseMilestoneDefinitions(
  {
    milestones: [
      { id: 'onboarded', when: { type: 'purchase.completed' }, deadline: { days: 30, from: 'first-touch' } },
      { id: 'promoter', when: { type: 'survey.answered', where: { nps: { gte: 9 } } }, deadline: { days: 60, from: 'onboarded' } },
    ],
  },
  'test',
);

let position = 0;
const record = (type: string, occurredAt: string, data: unknown = {}): ProjectedRecord =>
  ({
    position: ++position,
    eventId: `e${position}`,
    type,
    streamId: 'customer-c1',
    revision: 0,
    data,
    metadata: { occurredAt, channel: 'web' },
  }) as never;

describe('milestones fold', () => {
  it('keeps the earliest first touch and matches whatever the arrival order (late events land where they belong)', () => {
    const s = milestonesModel.empty('c1');
    evolveMilestones(s, record('purchase.completed', '2026-03-10T00:00:00+01:00'), milestones);
    evolveMilestones(s, record('web.visited', '2026-03-01T00:00:00Z'), milestones);
    evolveMilestones(s, record('purchase.completed', '2026-03-05T00:00:00Z'), milestones); // late, earlier
    evolveMilestones(s, record('customer.registered', '2026-01-01T00:00:00Z'), milestones); // not a touch point
    expect(s.firstTouch?.at).toBe('2026-03-01T00:00:00.000Z');
    expect(s.matches.onboarded.at).toBe('2026-03-05T00:00:00.000Z');
    expect(s.matches.promoter).toBeUndefined();
  });

  it('reaches in time, misses after the deadline, and a dependent milestone is missed when its anchor is', () => {
    const s = milestonesModel.empty('c1');
    evolveMilestones(s, record('web.visited', '2026-01-01T00:00:00Z'), milestones);
    evolveMilestones(s, record('purchase.completed', '2026-02-15T00:00:00Z'), milestones); // 45 days: too late
    evolveMilestones(s, record('survey.answered', '2026-02-20T00:00:00Z', { nps: 10 }), milestones);
    const [onboarded, promoter] = progressOf(s, milestones);
    expect(onboarded).toMatchObject({ reachedAt: null, matchedAt: '2026-02-15T00:00:00.000Z', missedAt: '2026-01-31T00:00:00.000Z' });
    expect(promoter).toMatchObject({ reachedAt: null, missedAt: '2026-01-31T00:00:00.000Z', deadlineAt: null });
    expect(statusAt(onboarded, '2026-01-30T00:00:00.000Z')).toBe('open');
    expect(statusAt(onboarded, '2026-01-31T00:00:00.000Z')).toBe('missed');
  });

  it('merges as the minimum of both histories; the survivor keeps its own announcements', () => {
    const a = milestonesModel.empty('a');
    const b = milestonesModel.empty('b');
    evolveMilestones(a, record('web.visited', '2026-02-01T00:00:00Z'), milestones);
    evolveMilestones(
      a,
      record('milestone.missed', '2026-03-03T00:00:00Z', {
        milestoneId: 'onboarded',
        definition: 'd1',
        deadlineAt: '2026-03-03T00:00:00Z',
      }),
      milestones,
    );
    evolveMilestones(b, record('web.visited', '2026-01-10T00:00:00Z'), milestones);
    evolveMilestones(b, record('purchase.completed', '2026-01-20T00:00:00Z'), milestones);
    evolveMilestones(
      b,
      record('milestone.reached', '2026-01-20T00:00:00Z', {
        milestoneId: 'onboarded',
        definition: 'd1',
        reachedAt: '2026-01-20T00:00:00Z',
      }),
      milestones,
    );
    evolveMilestones(
      b,
      record('milestone.reached', '2026-01-20T00:00:00Z', { milestoneId: 'promoter', definition: 'd2', reachedAt: '2026-01-20T00:00:00Z' }),
      milestones,
    );
    milestonesModel.absorb(a, b, {} as never);
    expect(a.firstTouch?.at).toBe('2026-01-10T00:00:00.000Z');
    expect(progressOf(a, milestones)[0].reachedAt).toBe('2026-01-20T00:00:00.000Z');
    expect(a.announced.onboarded.kind).toBe('missed');
    expect(a.announced.promoter.kind).toBe('reached');
  });
});
