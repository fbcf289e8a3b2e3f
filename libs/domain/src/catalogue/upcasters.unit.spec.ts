import { CASE_WORK_STATUSES, TOUCHPOINT_CATALOGUE } from './catalogue';
import { upcast } from './upcasters';

describe('upcasting', () => {
  it('reads a v1 survey answer (one score and its scale) as v2 (one field per scale)', () => {
    expect(upcast('survey.answered', 1, { survey: 'nps', score: 3, comment: 'slow', surveyId: 's1' })).toEqual({
      schemaVersion: 2,
      data: { nps: 3, comment: 'slow', surveyId: 's1' },
    });
    expect(upcast('survey.answered', 1, { survey: 'ces', score: 6 }).data).toEqual({ ces: 6 });
  });

  it('leaves the latest version untouched', () => {
    const data = { csat: 4 };
    expect(upcast('survey.answered', 2, data)).toEqual({ schemaVersion: 2, data });
    expect(upcast('contact.handled', 1, { handleSeconds: 1 })).toEqual({ schemaVersion: 1, data: { handleSeconds: 1 } });
  });

  it('has an upcaster for every older accepted version in the catalogue', () => {
    for (const [type, entry] of Object.entries(TOUCHPOINT_CATALOGUE)) {
      for (const v of entry.acceptedVersions.filter((x) => x < entry.latestVersion)) {
        expect(() => upcast(type, v, { survey: 'nps', score: 1 })).not.toThrow();
      }
    }
  });

  it('marks personal data fields for the types that carry free text or contact data', () => {
    expect(TOUCHPOINT_CATALOGUE['survey.answered'].personalData).toContain('comment');
    expect(TOUCHPOINT_CATALOGUE['profile.updated'].personalData).toEqual(['*']);
    expect(TOUCHPOINT_CATALOGUE['purchase.completed'].personalData).toEqual([]);
  });

  it('covers the case lifecycle ticketing systems record, every case event at version 1 (no payload changed shape)', () => {
    const cases = Object.keys(TOUCHPOINT_CATALOGUE).filter((t) => t.startsWith('case.'));
    expect(cases.sort()).toEqual([
      'case.assigned',
      'case.closed',
      'case.escalated',
      'case.opened',
      'case.reopened',
      'case.resolved',
      'case.status-changed',
    ]);
    for (const t of cases) expect(TOUCHPOINT_CATALOGUE[t as keyof typeof TOUCHPOINT_CATALOGUE].latestVersion).toBe(1);
    expect(TOUCHPOINT_CATALOGUE['case.opened'].personalData).toEqual(['subject']); // the only free text of a case event
    expect(CASE_WORK_STATUSES).toEqual(['in-progress', 'waiting', 'on-hold', 'pending-customer']);
  });
});
