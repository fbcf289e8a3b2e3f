import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@cem/config';
import { loadMilestoneDefinitions, meetsCondition, MilestoneConfigError, parseMilestoneDefinitions } from './milestone-definitions';

const problemsOf = (json: unknown): string[] => {
  try {
    parseMilestoneDefinitions(json, 'milestones.json');
  } catch (e) {
    expect(e).toBeInstanceOf(MilestoneConfigError);
    return (e as MilestoneConfigError).details.map((p) => `${p.path}: ${p.reason}`);
  }
  throw new Error('accepted');
};

describe('milestone definitions', () => {
  it('accepts conditions, channels, payload fields and deadlines from the first touch or another milestone', () => {
    const d = parseMilestoneDefinitions(
      {
        milestones: [
          { id: 'onboarded', when: { type: 'purchase.completed' }, deadline: { days: 30, from: 'first-touch' } },
          {
            id: 'promoter',
            label: 'Promoter',
            when: { type: 'survey.answered', channels: ['email'], where: { nps: { gte: 9 } } },
            deadline: { days: 90, from: 'onboarded' },
          },
        ],
      },
      'x',
    );
    expect(d.milestones.map((m) => [m.id, m.label])).toEqual([
      ['onboarded', 'onboarded'],
      ['promoter', 'Promoter'],
    ]);
    expect(d.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same fingerprint to the same definitions whatever the key order, another to a changed one', () => {
    const a = parseMilestoneDefinitions(
      { milestones: [{ id: 'a', when: { type: 'case.resolved' }, deadline: { from: 'first-touch', days: 3 } }] },
      'x',
    );
    const b = parseMilestoneDefinitions(
      { milestones: [{ deadline: { days: 3, from: 'first-touch' }, when: { type: 'case.resolved' }, id: 'a' }] },
      'x',
    );
    const c = parseMilestoneDefinitions(
      { milestones: [{ id: 'a', when: { type: 'case.resolved' }, deadline: { from: 'first-touch', days: 4 } }] },
      'x',
    );
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(c.fingerprint).not.toBe(a.fingerprint);
  });

  it('refuses an unknown event type, naming its path', () => {
    expect(problemsOf({ milestones: [{ id: 'a', when: { type: 'purchase.complete' } }] })).toEqual([
      'milestones[0].when.type: unknown event type "purchase.complete" (a touch-point type of the catalogue)',
    ]);
  });

  it('refuses a cycle of deadlines, naming the path and the cycle', () => {
    const problems = problemsOf({
      milestones: [
        { id: 'a', when: { type: 'case.resolved' }, deadline: { days: 1, from: 'b' } },
        { id: 'b', when: { type: 'case.opened' }, deadline: { days: 1, from: 'a' } },
      ],
    });
    expect(problems).toEqual(['milestones[0].deadline.from: cycle: a -> b -> a', 'milestones[1].deadline.from: cycle: b -> a -> b']);
    expect(problemsOf({ milestones: [{ id: 'a', when: { type: 'case.resolved' }, deadline: { days: 1, from: 'a' } }] })).toEqual([
      'milestones[0].deadline.from: cycle: a -> a',
    ]);
  });

  it('refuses every other mistake with its path: ids, duplicates, unknown keys, channels, bounds, days, unknown anchors', () => {
    expect(problemsOf({})).toEqual(['milestones: is required: a list of milestones']);
    expect(problemsOf({ milestones: [] })).toEqual(['milestones: must hold 1 to 50 milestones']);
    expect(
      problemsOf({
        milestones: [
          { id: 'A', when: { type: 'case.resolved' } },
          { id: 'b', when: { type: 'case.resolved', channels: ['fax'], where: { nps: { above: 3 } } }, extra: 1 },
          { id: 'b', when: { type: 'case.resolved' }, deadline: { days: -1, from: 'nowhere' } },
          { id: 'first-touch', when: {} },
        ],
      }),
    ).toEqual([
      'milestones[0].id: must be lower-case letters, digits and "-", starting with a letter (at most 64)',
      'milestones[1].extra: unknown key (allowed: id, label, when, deadline)',
      'milestones[1].when.channels: must be a non-empty list of phone, chat, email, web, app, store, social, sms, other',
      'milestones[1].when.where.nps.above: unknown key (allowed: gte, gt, lte, lt)',
      'milestones[2].id: "b" is already the id of milestones[1]',
      'milestones[2].deadline.days: must be an integer from 0 to 3660',
      'milestones[3].id: "first-touch" is reserved for the first touch',
      'milestones[3].when.type: is required: a touch-point event type',
      'milestones[2].deadline.from: unknown milestone "nowhere"',
    ]);
  });

  it('loads <dataDir>/milestones.json, falls back to the built-in defaults, and reports a broken file by its path (a ConfigError: the process exits 2)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cem-ms-'));
    try {
      expect(loadMilestoneDefinitions(dir).origin).toBe('built-in defaults');
      expect(loadMilestoneDefinitions(dir).milestones.map((m) => m.id)).toEqual([
        'onboarded',
        'first-issue-resolved',
        'renewed',
        'became-promoter',
      ]);
      writeFileSync(join(dir, 'milestones.json'), '{"milestones": [');
      expect(() => loadMilestoneDefinitions(dir)).toThrow(ConfigError);
      expect(() => loadMilestoneDefinitions(dir)).toThrow(/milestones\.json: \$: not valid JSON/);
      writeFileSync(join(dir, 'milestones.json'), JSON.stringify({ milestones: [{ id: 'x', when: { type: 'nope' } }] }));
      expect(() => loadMilestoneDefinitions(dir)).toThrow(/milestones\.json: milestones\[0\]\.when\.type: unknown event type "nope"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('matches a condition on type, channel and payload fields; an absent field never matches', () => {
    const when = {
      type: 'survey.answered' as const,
      channels: ['email' as const],
      where: { nps: { gte: 9, lte: 10 }, surveyId: { in: ['S1', 'S2'] } },
    };
    expect(meetsCondition(when, 'survey.answered', 'email', { nps: 9, surveyId: 'S1' })).toBe(true);
    expect(meetsCondition(when, 'survey.answered', 'web', { nps: 9, surveyId: 'S1' })).toBe(false);
    expect(meetsCondition(when, 'survey.answered', 'email', { nps: 8, surveyId: 'S1' })).toBe(false);
    expect(meetsCondition(when, 'survey.answered', 'email', { nps: 10 })).toBe(false);
    expect(meetsCondition(when, 'case.resolved', 'email', { nps: 10, surveyId: 'S1' })).toBe(false);
    expect(
      meetsCondition({ type: 'subscription.changed', where: { change: 'upgrade' } }, 'subscription.changed', 'web', { change: 'upgrade' }),
    ).toBe(true);
  });
});
