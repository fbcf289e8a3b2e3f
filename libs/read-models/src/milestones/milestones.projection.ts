import { Inject, Injectable, Optional } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { createHash } from 'node:crypto';
import type { Transaction } from 'kysely';
import { CustomerStates, customersTouchedBy, type CustomerModel } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import { unhandledType, type ProjectedRecord } from '../projector/projected-record';
import { PROJECTION_CONTEXT, type Projection, type ProjectionContext } from '../projector/projection';
import { loadMilestoneDefinitions, type MilestoneDefinitions } from './milestone-definitions';
import { evolveMilestones, milestonesModel, progressOf, type MilestonesState } from './milestones.model';
import { MILESTONES, type MilestonesTables, type MsProgressTable } from './milestones.schema';

/** bump when the projection's output changes for the same events and definitions */
export const MILESTONES_CODE_VERSION = 2;
/** rows per statement: well under SQLite's and PostgreSQL's bound-parameter limits */
const CHUNK = 500;

interface MilestonesBatch {
  customers: CustomerStates<MilestonesState>;
}

const chunks = <T>(items: T[], size = CHUNK): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * The journey-milestones projection, on the customer-keyed kit: per customer the first touch and
 * the earliest touch point meeting each milestone's condition (order-independent minimums), and
 * per live customer and milestone the progress the definitions make of them. The definitions come
 * from `<DATA_DIR>/milestones.json`; their fingerprint is part of the checkpoint's version, so a
 * changed definition is a new version of the read model (see VersionChangePolicy).
 */
@Injectable()
@EventsHandler(ProjectedEvent)
export class MilestonesProjection implements IEventHandler<ProjectedEvent>, Projection<MilestonesBatch, MilestonesTables> {
  readonly projectionName = MILESTONES;
  readonly definitions: MilestoneDefinitions;
  readonly configuredVersion: number;
  /** the kit's model with the fold under these definitions: an unmerge refolds both customers with it */
  private readonly model: CustomerModel<MilestonesState>;

  constructor(@Optional() @Inject(PROJECTION_CONTEXT) private readonly context?: ProjectionContext) {
    this.definitions = loadMilestoneDefinitions(context?.dataDir);
    this.configuredVersion = configuredVersionOf(this.definitions.fingerprint);
    const milestones = this.definitions.milestones;
    this.model = { ...milestonesModel, evolve: (state, record) => evolveMilestones(state, record, milestones) };
  }

  async beginBatch(trx: Transaction<MilestonesTables>, records: readonly ProjectedRecord[]): Promise<MilestonesBatch> {
    await this.recordDefinitions(trx);
    const customers = new CustomerStates(this.model);
    await customers.preloadWithSurvivors(customersTouchedBy(records), (ids) => loadStates(trx, ids));
    await customers.preloadHistories(records, this.context?.history);
    return { customers };
  }

  async handle(event: ProjectedEvent): Promise<void> {
    const batch = event.batch.stateFor(this, event.record.position);
    if (!batch) return;
    const route = batch.customers.route(event.record);
    switch (route.kind) {
      case 'skip':
      case 'merge':
      case 'unmerge': // both customers refolded by the kit (the model's evolve): their progress is rewritten at commit
        return;
      case 'event':
        this.model.evolve!(route.owner, event.record);
        return;
      default:
        unhandledType(route);
    }
  }

  async commitBatch(trx: Transaction<MilestonesTables>, batch: MilestonesBatch): Promise<void> {
    const changed = batch.customers.changedStates();
    if (changed.length === 0) return;
    for (const part of chunks(changed)) {
      await trx
        .insertInto('ms_customers')
        .values(
          part.map((s) => ({
            customer_id: s.customerId,
            merged_into: s.mergedInto,
            last_position: s.lastPosition,
            doc: JSON.stringify(s),
          })),
        )
        .onConflict((oc) =>
          oc.column('customer_id').doUpdateSet((eb) => ({
            merged_into: eb.ref('excluded.merged_into'),
            last_position: eb.ref('excluded.last_position'),
            doc: eb.ref('excluded.doc'),
          })),
        )
        .execute();
      // progress is rewritten whole for each changed customer; merged-away customers have none
      await trx
        .deleteFrom('ms_progress')
        .where(
          'customer_id',
          'in',
          part.map((s) => s.customerId),
        )
        .execute();
    }
    const rows: MsProgressTable[] = [];
    for (const s of changed) if (s.mergedInto === null) rows.push(...progressRows(s, this.definitions));
    for (const part of chunks(rows, 100)) await trx.insertInto('ms_progress').values(part).execute();
  }

  /** Keeps the history of definition sets: the first batch under new definitions records them. */
  private async recordDefinitions(trx: Transaction<MilestonesTables>): Promise<void> {
    const active = await trx
      .selectFrom('ms_definitions')
      .select(['fingerprint', 'activation'])
      .orderBy('activation', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (active?.fingerprint === this.definitions.fingerprint) return;
    const top = await trx
      .selectFrom('ms_definitions')
      .select((eb) => [eb.fn.max('version').as('version'), eb.fn.max('activation').as('activation')])
      .executeTakeFirst();
    const activation = Number(top?.activation ?? 0) + 1;
    await trx
      .insertInto('ms_definitions')
      .values({
        fingerprint: this.definitions.fingerprint,
        version: Number(top?.version ?? 0) + 1,
        activation,
        definitions: JSON.stringify(this.definitions.milestones),
      })
      .onConflict((oc) => oc.column('fingerprint').doUpdateSet({ activation }))
      .execute();
  }
}

/** The checkpoint version: the code's and the definitions', as one integer below 2^31. */
export function configuredVersionOf(fingerprint: string): number {
  return parseInt(createHash('sha256').update(`${MILESTONES_CODE_VERSION}:${fingerprint}`).digest('hex').slice(0, 7), 16) + 1;
}

export function progressRows(state: MilestonesState, definitions: MilestoneDefinitions): MsProgressTable[] {
  const firstTouch = state.firstTouch;
  if (!firstTouch) return [];
  return progressOf(state, definitions.milestones).map((p) => {
    const definition = definitions.milestoneFingerprints[p.milestoneId];
    const announced = state.announced[p.milestoneId];
    const current = announced?.definition === definition ? announced.kind : undefined;
    return {
      customer_id: state.customerId,
      milestone_id: p.milestoneId,
      cohort: firstTouch.at.slice(0, 7),
      first_touch_at: firstTouch.at,
      matched_at: p.matchedAt,
      reached_at: p.reachedAt,
      reached_position: p.reachedPosition,
      missed_at: p.missedAt,
      seconds_to_reach: p.secondsToReach,
      definition,
      announced_reached: current === 'reached' ? 1 : 0,
      announced_missed: current === 'missed' ? 1 : 0,
    };
  });
}

async function loadStates(trx: Transaction<MilestonesTables>, ids: string[]): Promise<MilestonesState[]> {
  const out: MilestonesState[] = [];
  for (const part of chunks(ids)) {
    if (part.length === 0) continue;
    const rows = await trx.selectFrom('ms_customers').select('doc').where('customer_id', 'in', part).execute();
    for (const r of rows) out.push(JSON.parse(r.doc) as MilestonesState);
  }
  return out;
}
