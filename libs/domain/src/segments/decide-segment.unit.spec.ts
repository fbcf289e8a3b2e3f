import type { SegmentDefinition } from '../catalogue/payloads';
import { DomainValidationError } from '../errors';
import { deterministicUuid } from '../ids';
import { decideSegment, SegmentArchivedError, SegmentExistsError, SegmentNotFoundError, type SegmentCommand } from './decide-segment';

const SEGMENT: SegmentDefinition = {
  name: 'At-risk promoters',
  description: 'promoters with a high churn band',
  rule: { all: [{ fact: 'npsCategory', op: '=', value: 'promoter' }] },
  consentPurpose: 'marketing-email',
};
const NONE = { version: 0, revision: -1, archived: false };
const V1 = { version: 1, revision: 0, archived: false };
const at = '2026-11-20T09:15:00.000Z';
const set = (kind: 'create' | 'change', segment = SEGMENT): SegmentCommand => ({
  kind,
  segmentId: 'at-risk-promoters',
  segment,
  changedBy: 'analyst-key',
  occurredAt: at,
});

describe('decideSegment', () => {
  it('creates version 1, changes to the next version, archives as the next version; ids from segment and version', () => {
    expect(decideSegment(set('create'), NONE)).toEqual([
      {
        eventId: deterministicUuid('segment.created', 'at-risk-promoters', '1'),
        type: 'segment.created',
        data: { segmentId: 'at-risk-promoters', version: 1, segment: SEGMENT, changedBy: 'analyst-key' },
        metadata: { schemaVersion: 1, occurredAt: at, source: 'cem.api' },
      },
    ]);
    expect(decideSegment(set('change'), V1)[0]).toMatchObject({ type: 'segment.changed', data: { version: 2 } });
    expect(decideSegment({ kind: 'archive', segmentId: 'at-risk-promoters', changedBy: 'k', occurredAt: at }, V1)[0]).toMatchObject({
      eventId: deterministicUuid('segment.archived', 'at-risk-promoters', '2'),
      type: 'segment.archived',
      data: { segmentId: 'at-risk-promoters', version: 2, changedBy: 'k' },
    });
  });

  it('refuses a bad id or definition naming each field, a second create, a change of a missing or archived segment', () => {
    expect(() => decideSegment({ ...set('create'), segmentId: 'Bad Id' }, NONE)).toThrow(DomainValidationError);
    try {
      decideSegment(set('create', { ...SEGMENT, name: '', consentPurpose: 'Marketing Email', rule: [] as never }), NONE);
      throw new Error('not refused');
    } catch (e) {
      expect((e as DomainValidationError).errors.map((x) => x.field)).toEqual(['name', 'consentPurpose', 'rule']);
    }
    expect(() => decideSegment(set('create'), V1)).toThrow(SegmentExistsError);
    expect(() => decideSegment(set('change'), NONE)).toThrow(SegmentNotFoundError);
    expect(() => decideSegment(set('change'), { ...V1, archived: true })).toThrow(SegmentArchivedError);
  });
});
