import { decideSegment, segmentStreamId, type SegmentCommand, type SegmentDefinition } from '@cem/domain';
import type { StreamWrite } from '@cem/event-store';
import { compileSegmentRule } from './segment-rule';
import { ANY_VOCABULARY, type SegmentsQueries } from './segments.query';

const SAMPLE: SegmentDefinition = {
  name: 'Phone customers with an open case',
  description: 'for the contract suite',
  rule: {
    all: [
      { fact: 'channels', op: 'includes', value: 'phone' },
      { fact: 'openCases', op: '>=', value: 1 },
    ],
  },
  consentPurpose: 'marketing-email',
};
const BILLING = { count: 'contact.handled', where: { reason: 'billing' }, within: 'P90D', op: '>=', value: 1 };

/** What the read-store contract suite asks the segments read model on every store. */
export async function segmentsContractQueries(q: SegmentsQueries, log: readonly unknown[]): Promise<unknown> {
  const list = await q.list();
  const asOf = Date.parse('2026-03-01T00:00:00.000Z');
  const dry = async (rule: unknown, purpose: string | null) => {
    const c = compileSegmentRule(rule, ANY_VOCABULARY);
    return c.ok ? q.dryRun(c.evaluate, purpose, asOf) : c.errors;
  };
  return {
    events: log.length,
    list,
    each: await Promise.all(
      list.map(async (s) => ({
        changes: await q.changes(s.segmentId),
        size: await q.size(s),
        members: await q.members(s, { limit: 5 }),
        trend: await q.trend(s.segmentId, 3, asOf),
      })),
    ),
    live: await q.liveCount(),
    purposes: [...(await q.consentPurposes())].sort(),
    dryRuns: [
      await dry(SAMPLE.rule, 'marketing-email'),
      await dry(BILLING, null),
      await dry({ fact: 'lifecycleStage', op: 'in', value: ['active', 'at_risk'] }, null),
    ],
  };
}

/** Segments created, changed and archived (as the API writes them), for the contract suite's log. */
export function segmentsContractEvents(): StreamWrite[] {
  const writes: StreamWrite[] = [];
  const versions = new Map<string, number>();
  const write = (command: SegmentCommand, day: number) => {
    const version = versions.get(command.segmentId) ?? 0;
    const events = decideSegment(
      { ...command, occurredAt: new Date(Date.UTC(2026, 0, day, 9, 30)).toISOString() },
      { version, revision: version - 1, archived: false },
    );
    versions.set(command.segmentId, version + 1);
    writes.push({
      streamId: segmentStreamId(command.segmentId),
      expectedRevision: version === 0 ? 'no_stream' : version - 1,
      events: events.map((e) => ({ ...e, metadata: { ...e.metadata } })),
    });
  };
  write({ kind: 'create', segmentId: 'phone-open-cases', segment: SAMPLE, changedBy: 'analyst-1', occurredAt: '' }, 2);
  write(
    {
      kind: 'create',
      segmentId: 'billing',
      segment: { ...SAMPLE, name: 'Billing contacts', rule: BILLING, consentPurpose: null },
      changedBy: 'analyst-2',
      occurredAt: '',
    },
    3,
  );
  write(
    {
      kind: 'change',
      segmentId: 'phone-open-cases',
      segment: { ...SAMPLE, description: 'changed' },
      changedBy: 'analyst-2',
      occurredAt: '',
    },
    5,
  );
  write({ kind: 'archive', segmentId: 'billing', changedBy: 'analyst-1', occurredAt: '' }, 8);
  return writes;
}
