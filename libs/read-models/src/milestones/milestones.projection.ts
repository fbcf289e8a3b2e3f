import { Inject, Injectable, Optional } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { createHash } from 'node:crypto';
import type { Transaction } from 'kysely';
import { CustomerStates, customersTouchedBy, type CustomerModel } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import { unhandledType, type ProjectedRecord } from '../projector/projected-record';
import { PROJECTION_CONTEXT, type Projection, type ProjectionContext } from '../projector/projection';
import type { BulkUpsert, DirectSql, SqlValue } from '../store/direct-sql';
import { loadMilestoneDefinitions, type MilestoneDefinitions } from './milestone-definitions';
import { evolveMilestones, milestonesModel, progressOf, type MilestonesState } from './milestones.model';
import { MILESTONES, type MilestonesTables, type MsProgressTable } from './milestones.schema';

/** bump when the projection's output changes for the same events and definitions */
export const MILESTONES_CODE_VERSION = 2;
const CUSTOMERS: BulkUpsert = {
  table: 'ms_customers',
  columns: ['customer_id', 'merged_into', 'last_position', 'doc'],
  conflict: ['customer_id'],
  update: ['merged_into', 'last_position', 'doc'],
};
const PROGRESS_COLUMNS = [
  'customer_id',
  'milestone_id',
  'cohort',
  'first_touch_at',
  'matched_at',
  'reached_at',
  'reached_position',
  'missed_at',
  'seconds_to_reach',
  'definition',
  'announced_reached',
  'announced_missed',
] as const satisfies readonly (keyof MsProgressTable)[];
/** the customer's rows were deleted just before: a plain insert (the conflict clause never fires) */
const PROGRESS: BulkUpsert = {
  table: 'ms_progress',
  columns: PROGRESS_COLUMNS,
  conflict: ['customer_id', 'milestone_id'],
  update: PROGRESS_COLUMNS.slice(2),
};

interface MilestonesBatch {
  customers: CustomerStates<MilestonesState>;
  /** the progress rows stored for each customer loaded (what its state gave when written): unchanged ones are not rewritten */
  storedRows: Map<string, SqlValue[][]>;
}

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

  async beginBatch(trx: Transaction<MilestonesTables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<MilestonesBatch> {
    await this.recordDefinitions(trx);
    const customers = new CustomerStates(this.model);
    await customers.preloadWithSurvivors(customersTouchedBy(records), (ids) => loadStates(sql, ids));
    await customers.preloadHistories(records, this.context?.history);
    const storedRows = new Map<string, SqlValue[][]>();
    for (const state of customers.all()) storedRows.set(state.customerId, this.rowsOf(state));
    return { customers, storedRows };
  }

  /** a customer's ms_progress rows, values in column order; none for a customer merged away */
  private rowsOf(state: MilestonesState): SqlValue[][] {
    if (state.mergedInto !== null) return [];
    return progressRows(state, this.definitions).map((row) => PROGRESS_COLUMNS.map((c) => row[c] as SqlValue));
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

  async commitBatch(_trx: Transaction<MilestonesTables>, batch: MilestonesBatch, sql: DirectSql): Promise<void> {
    const changed = batch.customers.changedStates();
    if (changed.length === 0) return;
    // prepared statements (DirectSql), not a Kysely query built and compiled per chunk: that was
    // most of this read model's time in a rebuild
    await sql.upsert(
      CUSTOMERS,
      changed.map((s) => [s.customerId, s.mergedInto, s.lastPosition, JSON.stringify(s)]),
    );
    // progress is rewritten whole for each changed customer whose rows changed (merged-away customers
    // have none): most events change a customer's document, not its progress, and the delete and
    // insert of its rows (two indexes each) were most of this read model's time in a rebuild
    const rewritten: string[] = [];
    const rows: SqlValue[][] = [];
    for (const s of changed) {
      const now = this.rowsOf(s);
      if (sameRows(batch.storedRows.get(s.customerId) ?? [], now)) continue;
      rewritten.push(s.customerId);
      rows.push(...now);
    }
    await sql.deleteByKeys('ms_progress', 'customer_id', rewritten);
    await sql.upsert(PROGRESS, rows);
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

const sameRows = (a: readonly SqlValue[][], b: readonly SqlValue[][]): boolean =>
  a.length === b.length && a.every((row, i) => row.length === b[i].length && row.every((v, j) => v === b[i][j]));

async function loadStates(sql: DirectSql, ids: string[]): Promise<MilestonesState[]> {
  const rows = await sql.selectByKeys<{ doc: string }>('ms_customers', ['doc'], 'customer_id', ids);
  return rows.map((r) => JSON.parse(r.doc) as MilestonesState);
}
