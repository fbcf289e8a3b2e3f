import { given } from '../../../../test/support/given-when-then';
import { DomainValidationError } from '../errors';
import { deterministicUuid } from '../ids';
import type { TargetDefinition } from '../catalogue/payloads';
import { decideSetTarget, TargetExistsError, TargetNotFoundError, type SetTarget } from './decide-target';

const TARGET: TargetDefinition = {
  name: 'NPS of high-value customers',
  metric: 'nps',
  slice: { dimension: 'segment', value: 'high' },
  direction: 'at-least',
  threshold: 40,
  bucket: 'month',
  startDate: '2026-10-01',
  dueDate: '2027-03-31',
};
const command = (kind: SetTarget['kind'], target: TargetDefinition = TARGET): SetTarget => ({
  kind,
  targetId: 'nps-high',
  target,
  changedBy: 'key-1',
  occurredAt: '2026-11-20T09:15:00.000Z',
});

describe('decideSetTarget', () => {
  it('creates version 1 as target.created, with an id derived from the target and version', () => {
    given({ version: 0, revision: -1 })
      .when(decideSetTarget, command('create'))
      .then([
        {
          eventId: deterministicUuid('target.created', 'nps-high', '1'),
          type: 'target.created',
          data: { targetId: 'nps-high', version: 1, target: TARGET, changedBy: 'key-1' },
          metadata: { schemaVersion: 1, occurredAt: '2026-11-20T09:15:00.000Z', source: 'cem.api' } as never,
        },
      ]);
  });

  it('changes an existing target as the next version, the whole definition in the event', () => {
    given({ version: 2, revision: 1 })
      .when(decideSetTarget, command('change', { ...TARGET, threshold: 35 }))
      .then((events) => expect(events.map((e) => [e.type, e.data.version, e.data.target.threshold])).toEqual([['target.changed', 3, 35]]));
  });

  it('refuses to create an existing target or change a missing one', () => {
    given({ version: 1, revision: 0 }).when(decideSetTarget, command('create')).thenThrows(TargetExistsError);
    given({ version: 0, revision: -1 }).when(decideSetTarget, command('change')).thenThrows(TargetNotFoundError);
  });

  it('refuses a bad definition, naming every field', () => {
    try {
      decideSetTarget(
        command('create', {
          ...TARGET,
          name: ' ',
          threshold: Infinity,
          startDate: '2026-02-30',
          dueDate: '2025-01-01',
          bucket: 'day' as never,
        }),
        {
          version: 0,
          revision: -1,
        },
      );
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(DomainValidationError);
      expect((e as DomainValidationError).errors.map((p) => p.field)).toEqual(['name', 'bucket', 'threshold', 'startDate']);
    }
    given({ version: 0, revision: -1 })
      .when(decideSetTarget, command('create', { ...TARGET, dueDate: '2026-09-30' }))
      .thenThrows(/dueDate: is before startDate/);
    given({ version: 0, revision: -1 })
      .when(decideSetTarget, { ...command('create'), targetId: 'NPS High' })
      .thenThrows(/targetId/);
  });
});
