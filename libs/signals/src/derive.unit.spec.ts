import type { EventType } from '@cem/domain';
import type { ProjectedRecord } from '@cem/read-models';
import { deriveSignals, SignalWorkingSet, type SignalCustomerState } from './derive';
import { SIGNAL_SCHEMA, toKafkaMessage, type CustomerSignal } from './signal.schema';

let position = 0;
const at = (day: number) => new Date(Date.UTC(2026, 0, 1) + day * 86_400_000).toISOString();
// payloads built by hand: the record is typed as the projector hands it over
const ev = (customer: string, type: EventType, day: number, data: unknown = {}): ProjectedRecord =>
  ({
    position: ++position,
    eventId: `e-${position}`,
    type,
    streamId: `customer-${customer}`,
    revision: 0,
    data,
    metadata: {
      schemaVersion: 1,
      occurredAt: at(day),
      customerId: customer,
      source: 'test',
      channel: 'web',
      identifiers: [{ kind: 'email', value: `${customer}@example.com` }],
    } as ProjectedRecord['metadata'],
    recordedAt: at(day),
  }) as ProjectedRecord;
const registered = (c: string, day: number) =>
  ev(c, 'customer.registered', day, { customerId: c, identifiers: [{ kind: 'email', value: `${c}@example.com` }] });
const merged = (survivor: string, mergedIds: string[], day: number) =>
  ev(survivor, 'customers.merged', day, {
    survivorId: survivor,
    mergedIds,
    evidence: {
      identifiers: ['email:shared@example.com', 'phone:+4930123456'],
      rule: 'shared-identifier',
      triggeringEventId: 'x',
      survivorRule: 'earliest-registered',
    },
  });
const mergedInto = (c: string, survivor: string, day: number) =>
  ev(c, 'customer.merged-into', day, { customerId: c, survivorId: survivor });
const purchase = (c: string, day: number) => ev(c, 'purchase.completed', day, { orderId: `o${position}`, amount: 100, currency: 'EUR' });
const visit = (c: string, day: number) => ev(c, 'web.visited', day, { url: 'https://example.com/' });

/** A stored-state map standing in for the publisher's SQLite table; `run` commits like the publisher does. */
class Harness {
  readonly stored = new Map<string, SignalCustomerState>();
  /** the log so far: an unmerge refolds its customers from it (the publisher reads their streams) */
  private readonly log: ProjectedRecord[] = [];
  run(records: ProjectedRecord[]): CustomerSignal[] {
    this.log.push(...records);
    const ws = new SignalWorkingSet({ get: (id) => this.stored.get(id) });
    ws.useHistoryFrom(this.log);
    const out = records.flatMap((r) => deriveSignals(ws, r));
    for (const s of ws.changedStates()) this.stored.set(s.customerId, structuredClone(s));
    return out;
  }
}

const stages = (signals: CustomerSignal[]) =>
  signals
    .filter((s) => s.type === 'customer.lifecycle-stage-changed')
    .map((s) => (s.type === 'customer.lifecycle-stage-changed' ? `${s.customerId}:${s.data.previousStage}->${s.data.stage}` : ''));

describe('customer signal derivation', () => {
  beforeEach(() => (position = 0));

  it('a new customer becomes a prospect, then onboarding with the first purchase, then active (evaluated at the latest occurredAt)', () => {
    const h = new Harness();
    const signals = h.run([registered('a', 0), visit('a', 1), purchase('a', 2), visit('a', 50), visit('a', 100)]);
    expect(stages(signals)).toEqual(['a:null->prospect', 'a:prospect->onboarding', 'a:onboarding->active']);
    const last = signals[2];
    expect(last).toMatchObject({
      schema: SIGNAL_SCHEMA,
      schemaVersion: 1,
      type: 'customer.lifecycle-stage-changed',
      customerId: 'a',
      occurredAt: at(100),
      source: { eventId: 'e-5', eventType: 'web.visited', position: 5 },
      data: { previousStage: 'onboarding', stage: 'active', asOf: at(100) },
    });
  });

  it('detractor feedback puts a customer at risk, a later promoter answer takes it back; a late detractor answer changes nothing', () => {
    const h = new Harness();
    const signals = h.run([
      registered('a', 0),
      purchase('a', 0),
      visit('a', 120),
      ev('a', 'survey.answered', 121, { nps: 2 }),
      ev('a', 'survey.answered', 130, { nps: 10 }),
      ev('a', 'survey.answered', 125, { nps: 1 }), // late: older than the promoter answer
    ]);
    expect(stages(signals)).toEqual([
      'a:null->prospect',
      'a:prospect->onboarding',
      'a:onboarding->active',
      'a:active->at_risk',
      'a:at_risk->active',
    ]);
  });

  it('a late event never moves the evaluation instant backwards', () => {
    const h = new Harness();
    const signals = h.run([
      registered('a', 0),
      purchase('a', 0),
      visit('a', 200),
      ev('a', 'complaint.filed', 150, { category: 'service' }),
    ]);
    // the complaint happened 50 days before the latest fact: outside the 30-day complaint window
    expect(stages(signals)).toEqual(['a:null->prospect', 'a:prospect->onboarding', 'a:onboarding->active']);
  });

  it('all subscriptions cancelled: churned; subscribing again: won back', () => {
    const h = new Harness();
    const signals = h.run([
      registered('a', 0),
      ev('a', 'subscription.started', 0, { subscriptionId: 's1', plan: 'basic' }),
      visit('a', 100),
      ev('a', 'subscription.cancelled', 110, { subscriptionId: 's1' }),
      ev('a', 'subscription.started', 120, { subscriptionId: 's2', plan: 'pro' }),
    ]);
    expect(stages(signals)).toEqual([
      'a:null->prospect',
      'a:prospect->onboarding',
      'a:onboarding->active',
      'a:active->churned',
      'a:churned->won_back',
    ]);
  });

  it('a merge yields a merge signal without identifier values and re-evaluates the survivor; later events of the merged-away stream belong to the survivor', () => {
    const h = new Harness();
    const first = h.run([registered('a', 0), visit('a', 1), registered('b', 2), purchase('b', 3)]);
    expect(stages(first)).toEqual(['a:null->prospect', 'b:null->prospect', 'b:prospect->onboarding']);
    const signals = h.run([merged('a', ['b'], 4), mergedInto('b', 'a', 4), visit('b', 200)]);
    expect(signals.map((s) => s.type)).toEqual([
      'customers.merged',
      'customer.lifecycle-stage-changed',
      'customer.lifecycle-stage-changed',
    ]);
    expect(signals[0]).toMatchObject({
      customerId: 'a',
      occurredAt: at(4),
      data: {
        survivorId: 'a',
        mergedIds: ['b'],
        rule: 'shared-identifier',
        survivorRule: 'earliest-registered',
        identifierKinds: ['email', 'phone'],
      },
    });
    expect(JSON.stringify(signals)).not.toContain('example.com');
    expect(stages(signals)).toEqual(['a:prospect->onboarding', 'a:onboarding->active']);
    expect(h.stored.get('b')).toMatchObject({ mergedInto: 'a' });
    expect(toKafkaMessage(signals[0])).toMatchObject({
      key: 'a',
      headers: { 'signal.id': signals[0].signalId, 'signal.type': 'customers.merged', 'signal.schema': 'cem.customer-signal/v1' },
    });
  });

  it('merge chains resolve to the live survivor', () => {
    const h = new Harness();
    h.run([
      registered('a', 0),
      registered('b', 0),
      registered('c', 0),
      merged('b', ['c'], 1),
      mergedInto('c', 'b', 1),
      merged('a', ['b'], 2),
      mergedInto('b', 'a', 2),
    ]);
    const signals = h.run([purchase('c', 3)]);
    expect(stages(signals)).toEqual(['a:prospect->onboarding']);
  });

  it('is deterministic and idempotent: the same log gives the same signals and ids, and re-applied events give none', () => {
    const log = () => {
      position = 0;
      return [
        registered('a', 0),
        purchase('a', 1),
        registered('b', 1),
        visit('b', 2),
        merged('a', ['b'], 3),
        mergedInto('b', 'a', 3),
        visit('a', 100),
      ];
    };
    const one = new Harness().run(log());
    const batched = new Harness();
    const records = log();
    const two = [...batched.run(records.slice(0, 3)), ...batched.run(records.slice(3))];
    expect(two).toEqual(one);
    expect(new Set(one.map((s) => s.signalId)).size).toBe(one.length);
    expect(batched.run(records)).toEqual([]); // a redelivered batch already committed
  });

  it('a churn band change (churn-risk.changed) becomes a churn-risk signal: deterministic id, the top factor by name only', () => {
    const change = (c: string, day: number) =>
      ev(c, 'churn-risk.changed', day, {
        customerId: c,
        fromBand: 'medium',
        band: 'high',
        probability: 0.61,
        logOdds: 0.447,
        asOf: at(day),
        model: { name: 'cem-churn', version: 3 },
        topFactors: ['recency', 'unresolved-cases'],
      });
    const log = () => {
      position = 0;
      return [registered('a', 0), change('a', 90)];
    };
    const one = new Harness().run(log()).filter((s) => s.type === 'customer.churn-risk-changed');
    const two = new Harness().run(log()).filter((s) => s.type === 'customer.churn-risk-changed');
    expect(one).toEqual([
      {
        schema: SIGNAL_SCHEMA,
        schemaVersion: 1,
        signalId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        type: 'customer.churn-risk-changed',
        customerId: 'a',
        occurredAt: at(90),
        source: { eventId: 'e-2', eventType: 'churn-risk.changed', position: 2 },
        data: {
          fromBand: 'medium',
          band: 'high',
          probability: 0.61,
          asOf: at(90),
          model: { name: 'cem-churn', version: 3 },
          topFactor: 'recency',
        },
      },
    ]);
    expect(two[0].signalId).toBe(one[0].signalId);
    // a different source event is a different signal
    expect(new Harness().run([change('a', 91)])[0].signalId).not.toBe(one[0].signalId);
    expect(JSON.stringify(one)).not.toContain('example.com');
    expect(toKafkaMessage(one[0]).headers['signal.type']).toBe('customer.churn-risk-changed');
  });

  it('an unmerge tells downstream the split customer is back and announces both stages as if the merge had not happened', () => {
    const history = [registered('a', 0), visit('a', 1), registered('b', 2), purchase('b', 3)];
    const merge = merged('a', ['b'], 4);
    const pointer = mergedInto('b', 'a', 4);
    pointer.metadata.causationId = merge.eventId; // as the platform writes it: the pointer names its merge
    const afterMerge = [merge, pointer, purchase('a', 5), visit('a', 5)];
    const bought = afterMerge[2]; // carried only b's identifiers: b's after the unmerge
    const unmerge = ev('a', 'customers.unmerged', 6, {
      survivorId: 'a',
      splitId: 'b',
      restoredIds: [],
      mergeId: merge.eventId,
      mergePosition: merge.position,
      identifiers: [],
      reattributedEventIds: [bought.eventId],
      requestedBy: { kind: 'named', name: 'ops' },
      reason: 'CASE-1',
      unmergedAt: at(6),
    });
    const later = [visit('b', 7), purchase('a', 8)];
    const h = new Harness();
    h.run(history);
    expect(stages(h.run(afterMerge))).toEqual(['a:prospect->onboarding']);
    const signals = h.run([unmerge, ...later]);
    expect(signals[0]).toMatchObject({
      type: 'customers.unmerged',
      customerId: 'a',
      source: { eventId: unmerge.eventId, eventType: 'customers.unmerged' },
      data: { survivorId: 'a', splitId: 'b', restoredIds: [], mergeId: merge.eventId },
    });
    // a keeps only its visits (prospect again), b is announced afresh with its purchases; later events go to each
    expect(stages(signals)).toEqual(['a:onboarding->prospect', 'b:null->onboarding', 'a:prospect->onboarding']);
    expect(h.stored.get('b')).toMatchObject({ mergedInto: null, firstCommercialAt: at(3) });
    // the same log derived in one go (a replay from 0) gives the same signals and states
    const replay = new Harness();
    expect(replay.run([...history, ...afterMerge, unmerge, ...later]).slice(-4)).toEqual(signals);
    expect(replay.stored).toEqual(h.stored);
  });

  it('ignores events that are not about a customer', () => {
    const h = new Harness();
    // a type this version does not know (written by a newer platform) is ignored
    expect(h.run([{ ...visit('a', 0), type: 'projection.rebuilt' } as unknown as ProjectedRecord])).toEqual([]);
  });

  it('a segment entry or exit is signalled when activated (consent held), held back otherwise; ids are deterministic', () => {
    const h = new Harness();
    const change = (c: string, type: 'segment.entered' | 'segment.left', activated: boolean) =>
      ev(c, type, 3, {
        segmentId: 'vip',
        customerId: c,
        version: 2,
        ordinal: 1,
        asOf: at(3),
        activated,
        ...(type === 'segment.left' ? { reason: 'rule' } : {}),
      });
    const entered = change('a', 'segment.entered', true);
    const out = h.run([entered, change('b', 'segment.entered', false), change('c', 'segment.left', true)]);
    expect(out.map((s) => [s.type, s.customerId, s.data])).toEqual([
      ['customer.segment-entered', 'a', { segmentId: 'vip', version: 2, asOf: at(3) }],
      ['customer.segment-left', 'c', { segmentId: 'vip', version: 2, asOf: at(3), reason: 'rule' }],
    ]);
    expect(new Harness().run([entered])[0].signalId).toBe(out[0].signalId);
  });
});
