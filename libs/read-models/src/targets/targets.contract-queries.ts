import { decideSetTarget, targetStreamId, type TargetDefinition } from '@cem/domain';
import type { RecordedEvent, StreamWrite } from '@cem/event-store';
import type { TargetsQueries } from './targets.query';

/** What the read-store contract suite asks the targets read model on every store. */
export async function targetsContractQueries(q: TargetsQueries, log: readonly RecordedEvent[]): Promise<unknown> {
  const ids = [...new Set(log.flatMap((e) => (e.type.startsWith('target.') ? [(e.data as { targetId: string }).targetId] : [])))].sort();
  return {
    list: await q.list(),
    each: await Promise.all(ids.map(async (id) => ({ target: await q.byId(id), changes: await q.changes(id) }))),
  };
}

const SAMPLE: TargetDefinition = {
  name: 'NPS of high-value customers',
  metric: 'nps',
  slice: { dimension: 'segment', value: 'high' },
  direction: 'at-least',
  threshold: 40,
  bucket: 'month',
  startDate: '2025-01-01',
  dueDate: '2026-03-31',
};

/** Targets created and changed (as the API writes them), for the contract suite's log. */
export function targetsContractEvents(): StreamWrite[] {
  const writes: StreamWrite[] = [];
  const set = (kind: 'create' | 'change', targetId: string, version: number, target: TargetDefinition, day: number) => {
    const occurredAt = new Date(Date.UTC(2026, 0, day, 9, 30)).toISOString();
    const events = decideSetTarget({ kind, targetId, target, changedBy: 'config-2', occurredAt }, { version, revision: version - 1 });
    writes.push({
      streamId: targetStreamId(targetId),
      expectedRevision: version - 1 < 0 ? 'no_stream' : version - 1,
      events: events.map((e) => ({ ...e, metadata: { ...e.metadata } })),
    });
  };
  set('create', 'nps-high', 0, SAMPLE, 2);
  set('change', 'nps-high', 1, { ...SAMPLE, threshold: 35 }, 9);
  set('create', 'csat-all', 0, { ...SAMPLE, name: 'CSAT, everyone', metric: 'csat', slice: null, threshold: 4.2, bucket: 'week' }, 3);
  set('change', 'nps-high', 2, { ...SAMPLE, threshold: 38, dueDate: '2026-06-30' }, 20);
  set(
    'create',
    'handle-time-phone',
    0,
    {
      ...SAMPLE,
      name: 'Handle time on the phone',
      metric: 'handle-time',
      slice: { dimension: 'channel', value: 'phone' },
      direction: 'at-most',
      threshold: 300,
    },
    4,
  );
  return writes;
}
