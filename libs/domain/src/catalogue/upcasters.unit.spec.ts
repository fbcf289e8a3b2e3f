import { TOUCHPOINT_CATALOGUE } from './catalogue';
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
});
