import type { Kysely } from 'kysely';
import { customerStreamId, type SegmentMembershipChangedV1 } from '@cem/domain';
import type { ScheduledEvent, ScheduledJob } from '../scheduler/scheduled-system-events';
import { consentHeld, segmentFactsOf } from './segments.model';
import { SegmentsQueries, type SegmentEvaluation, type SegmentView } from './segments.query';
import type { SegmentsTables } from './segments.schema';
import type { RulePredicate } from './segment-rule';

/** the scheduled job's name: part of every segment event id (never rename it) */
export const SEGMENTS_JOB = 'segments';
/** the `source` of segment.entered / segment.left */
export const SEGMENT_EVENTS_SOURCE = 'cem.segments';
export const DEFAULT_SEGMENTS_INTERVAL_MS = 60_000;

/**
 * The progress of the background evaluation, per segment: the job (where the scheduler runs) writes
 * it to the read store (`sg_evaluations`), so every API process reads it (SegmentsQueries.evaluationOf),
 * also with PROJECTOR=external. The requests (a definition saved: evaluate now) are the process's own.
 */
export class SegmentEvaluations {
  private requested = 0;
  private startedFor = 0;
  /** `db`: a connection that may write the read store (the projector's) */
  constructor(private readonly db: Kysely<SegmentsTables>) {}

  /** an evaluation was asked for (a definition saved): returns its number */
  request(): number {
    return ++this.requested;
  }
  /** a run starts: it serves every request made so far */
  begin(): void {
    this.startedFor = this.requested;
  }
  /** whether the latest run started after request `n` */
  serves(n: number): boolean {
    return this.startedFor >= n;
  }
  /** Records where each listed segment's evaluation stands (one statement). */
  async set(evaluations: readonly SegmentEvaluation[]): Promise<void> {
    if (evaluations.length === 0) return;
    await this.db
      .insertInto('sg_evaluations')
      .values(
        evaluations.map((e) => ({
          segment_id: e.segmentId,
          version: e.version,
          state: e.state,
          evaluated: e.evaluated,
          total: e.total,
          pending: e.pending,
          as_of: e.asOf,
        })),
      )
      .onConflict((oc) =>
        oc.column('segment_id').doUpdateSet((eb) => ({
          version: eb.ref('excluded.version'),
          state: eb.ref('excluded.state'),
          evaluated: eb.ref('excluded.evaluated'),
          total: eb.ref('excluded.total'),
          pending: eb.ref('excluded.pending'),
          as_of: eb.ref('excluded.as_of'),
        })),
      )
      .execute();
  }
  /** after the scheduler appended a run's events: `deferred` of them wait for the next run */
  async appended(deferred: number): Promise<void> {
    await this.db
      .updateTable('sg_evaluations')
      .set((eb) => ({
        pending: eb.case().when('pending', '>', deferred).then(deferred).else(eb.ref('pending')).end(),
        state: deferred === 0 ? 'done' : 'announcing',
      }))
      .where('state', '=', 'announcing')
      .execute();
  }
}

/**
 * The scheduled segment evaluation: every live customer against every segment as of the run's
 * instant (the lifecycle stage and the windowed counts move with time), a page of customers at a
 * time (reads only: ingestion and projection go on). Due = the rule's answer differs from the
 * membership the log says: segment.entered / segment.left on the customer's stream, id from
 * (segment, customer, ordinal of the change, kind); the read model folds them, so a change
 * announced once is not due again, also after a rebuild. An archived segment's members leave.
 */
export function segmentsJob(options: {
  queries: SegmentsQueries;
  whenCaughtUp(position: number, timeoutMs: number): Promise<boolean>;
  intervalMs?: number;
  progress?: SegmentEvaluations;
}): ScheduledJob {
  const { queries, progress } = options;
  return {
    name: SEGMENTS_JOB,
    intervalMs: options.intervalMs ?? DEFAULT_SEGMENTS_INTERVAL_MS,
    whenCaughtUp: options.whenCaughtUp,
    async evaluate(asOf: number): Promise<ScheduledEvent[]> {
      progress?.begin();
      const segments = await queries.list();
      if (segments.length === 0) return [];
      const asOfIso = new Date(asOf).toISOString();
      const total = await queries.liveCount();
      const rules = segments.map((s) => ({ view: s, evaluate: s.status === 'archived' ? undefined : SegmentsQueries.compile(s.segment) }));
      const stats = new Map(segments.map((s) => [s.segmentId, { evaluated: 0, due: 0 }]));
      const report = (state: SegmentEvaluation['state']) =>
        progress?.set(
          segments.map((s) => {
            const st = stats.get(s.segmentId)!;
            return {
              segmentId: s.segmentId,
              version: s.version,
              state: state === 'done' && st.due > 0 ? 'announcing' : state,
              evaluated: st.evaluated,
              total,
              pending: st.due,
              asOf: asOfIso,
            };
          }),
        );
      await report('evaluating');
      const due: ScheduledEvent[] = [];
      for await (const page of queries.liveCustomers()) {
        for (const state of page) {
          const facts = rules.some((r) => r.evaluate) ? segmentFactsOf(state, asOf) : undefined;
          for (const { view, evaluate } of rules) {
            const m = state.memberships[view.segmentId];
            const match = evaluate !== undefined && (evaluate as RulePredicate)(facts!, asOf);
            if (match === (m?.member === true)) continue;
            stats.get(view.segmentId)!.due++;
            due.push(
              change(
                view,
                state.customerId,
                match,
                m?.ordinal ?? 0,
                m?.activated ?? false,
                consentHeld(state, view.segment.consentPurpose),
                asOfIso,
              ),
            );
          }
        }
        for (const st of stats.values()) st.evaluated += page.length;
        await report('evaluating');
      }
      await report('done');
      return due;
    },
  };
}

function change(
  view: SegmentView,
  customerId: string,
  entered: boolean,
  ordinal: number,
  wasActivated: boolean,
  consent: boolean,
  asOf: string,
): ScheduledEvent {
  const kind = entered ? 'entered' : 'left';
  const data: SegmentMembershipChangedV1 = {
    segmentId: view.segmentId,
    customerId,
    version: view.version,
    ordinal: ordinal + 1,
    asOf,
    // an exit is signalled when the entry was: the systems that were told "in" are told "out"
    activated: entered ? consent : wasActivated,
    ...(entered ? {} : { reason: view.status === 'archived' ? ('archived' as const) : ('rule' as const) }),
  };
  return {
    streamId: customerStreamId(customerId),
    type: `segment.${kind}`,
    data,
    metadata: { schemaVersion: 1, occurredAt: asOf, customerId, source: SEGMENT_EVENTS_SOURCE },
    idParts: [view.segmentId, customerId, String(ordinal + 1), kind],
  };
}
