import type { ProjectedRecord } from '../projector/projected-record';
import { emptyChurnFacts, foldChurnFacts } from './churn-facts';

/** A tiny deterministic PRNG: the same "random" arrival order every run. */
const rng = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

describe('churn facts fold', () => {
  it('keeps every list sorted whatever the arrival order (late events), as a plain sort of the same facts', () => {
    const next = rng(7);
    const base = Date.parse('2026-01-01T00:00:00Z');
    const records = Array.from({ length: 400 }, (_, i) => {
      // few distinct instants: equal ones must be kept (lists) or dropped (touches)
      const occurredAt = new Date(base + Math.floor(next() * 150) * 3_600_000).toISOString();
      const kind = i % 3;
      return {
        position: i + 1,
        eventId: `e${i}`,
        streamId: 'customer-c',
        revision: i,
        recordedAt: occurredAt,
        metadata: { schemaVersion: 1, occurredAt, customerId: 'c', source: 't' },
        ...(kind === 0
          ? { type: 'purchase.completed', data: { orderId: `o${i}`, amount: Math.floor(next() * 5), currency: 'EUR' } }
          : kind === 1
            ? { type: 'complaint.filed', data: { complaintId: `x${i}` } }
            : { type: 'survey.answered', data: { nps: Math.floor(next() * 11) } }),
      } as unknown as ProjectedRecord;
    });
    const facts = emptyChurnFacts('c');
    for (const r of records) foldChurnFacts(facts, r);

    const at = (r: ProjectedRecord) => Date.parse(r.metadata.occurredAt);
    const byTuple = (a: (number | string)[], b: (number | string)[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
      return 0;
    };
    expect(facts.touches).toEqual([...new Set(records.map(at))].sort((a, b) => a - b));
    expect(facts.purchases).toEqual(
      records
        .filter((r) => r.type === 'purchase.completed')
        .map((r) => [at(r), (r.data as { amount: number }).amount])
        .sort(byTuple),
    );
    expect(facts.complaints).toEqual(
      records
        .filter((r) => r.type === 'complaint.filed')
        .map(at)
        .sort((a, b) => a - b),
    );
    expect(facts.surveys).toEqual(
      records
        .filter((r) => r.type === 'survey.answered')
        .map((r) => [at(r), (r.data as { nps: number }).nps, -1, -1])
        .sort(byTuple),
    );
  });
});

describe('churn facts: what is a touch', () => {
  const record = (position: number, type: string, data: Record<string, unknown>, occurredAt: string) =>
    ({
      position,
      eventId: `e${position}`,
      streamId: 'customer-c',
      revision: position,
      recordedAt: occurredAt,
      metadata: { schemaVersion: 1, occurredAt, customerId: 'c', source: 't' },
      type,
      data,
    }) as unknown as ProjectedRecord;

  it("counts the customer's touch points only, not the platform's own events on its stream (as the customer 360)", () => {
    const facts = emptyChurnFacts('c');
    const log = [
      record(1, 'customer.registered', { customerId: 'c', identifiers: [] }, '2026-01-01T00:00:00Z'),
      record(2, 'web.visited', { url: 'https://example.com/' }, '2026-01-02T00:00:00Z'),
      // written by the platform later: a scheduled miss at the deadline, segment changes, a band change, an erasure
      record(3, 'milestone.reached', { customerId: 'c', milestoneId: 'onboarded' }, '2026-01-03T00:00:00Z'),
      record(4, 'milestone.missed', { customerId: 'c', milestoneId: 'renewed' }, '2026-04-01T00:00:00Z'),
      record(5, 'segment.entered', { customerId: 'c', segmentId: 's' }, '2026-04-02T00:00:00Z'),
      record(6, 'segment.left', { customerId: 'c', segmentId: 's' }, '2026-04-03T00:00:00Z'),
      record(7, 'churn-risk.changed', { customerId: 'c', band: 'high' }, '2026-04-04T00:00:00Z'),
      record(8, 'personal-data.erased', { customerId: 'c', erasedCustomerIds: ['c'] }, '2026-04-05T00:00:00Z'),
      record(9, 'target.created', { targetId: 't' }, '2026-04-06T00:00:00Z'),
      record(10, 'ops.action-performed', { action: 'rebuild' }, '2026-04-07T00:00:00Z'),
    ];
    for (const r of log) foldChurnFacts(facts, r);
    expect(facts.touches).toEqual([Date.parse('2026-01-02T00:00:00Z')]);
    expect(facts).toMatchObject({ announced: 1, announcedBand: 'high', purchases: [], contacts: [], surveys: [] });
  });
});
