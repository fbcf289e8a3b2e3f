import { Inject, Injectable, Optional } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { CustomerStates, customersTouchedBy } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import type { ProjectedRecord } from '../projector/projected-record';
import { PROJECTION_CONTEXT, type Projection, type ProjectionContext } from '../projector/projection';
import type { BulkUpsert, DirectSql } from '../store/direct-sql';
import { churnFactsModel, foldChurnFacts, type ChurnFacts } from './churn-facts';
import { CHURN_RISK, type ChurnModelsTable, type ChurnRiskTables } from './churn-risk.schema';

interface ChurnRiskBatch {
  customers: CustomerStates<ChurnFacts>;
  models: ChurnModelsTable[];
}

const CUSTOMERS: BulkUpsert = {
  table: 'churn_customers',
  columns: ['customer_id', 'merged_into', 'last_position', 'facts'],
  conflict: ['customer_id'],
  update: ['merged_into', 'last_position', 'facts'],
};

/**
 * The churn-risk projection: each customer's facts with their instants (churn-facts.ts), on the
 * customer-keyed kit (merges, redelivery), and the fitted models. Scores are not projected: they
 * depend on the as-of instant and are evaluated by the queries (churn-risk.query.ts). Portable to
 * the PostgreSQL read store: customers through the read store's direct statements, models through
 * the query builder.
 */
@Injectable()
@EventsHandler(ProjectedEvent)
export class ChurnRiskProjection implements IEventHandler<ProjectedEvent>, Projection<ChurnRiskBatch, ChurnRiskTables> {
  readonly projectionName = CHURN_RISK;

  constructor(@Optional() @Inject(PROJECTION_CONTEXT) private readonly context?: ProjectionContext) {}

  async beginBatch(_trx: Transaction<ChurnRiskTables>, records: readonly ProjectedRecord[], sql: DirectSql): Promise<ChurnRiskBatch> {
    const customers = new CustomerStates(churnFactsModel);
    customers.preload(await load(sql, customersTouchedBy(records)));
    const survivors = new Set<string>();
    for (const s of customers.all()) if (s.mergedInto !== null && !customers.has(s.mergedInto)) survivors.add(s.mergedInto);
    customers.preload(await load(sql, [...survivors]));
    await customers.preloadHistories(records, this.context?.history);
    return { customers, models: [] };
  }

  async handle(event: ProjectedEvent): Promise<void> {
    const batch = event.batch.stateFor(this, event.record.position);
    if (!batch) return;
    const record = event.record;
    if (record.type === 'churn-model.fitted') {
      batch.models.push({
        version: record.data.version,
        name: record.data.name,
        as_of: record.data.asOf,
        position: record.position,
        payload: JSON.stringify(record.data),
      });
      return;
    }
    const route = batch.customers.route(record);
    if (route.kind === 'event') foldChurnFacts(route.owner, record);
  }

  async commitBatch(trx: Transaction<ChurnRiskTables>, batch: ChurnRiskBatch, sql: DirectSql): Promise<void> {
    // prepared statements (DirectSql), not a Kysely insert built and compiled per chunk of 500 rows,
    // which cost more than SQLite took to run it (the same change as milestones')
    await sql.upsert(
      CUSTOMERS,
      batch.customers.changedStates().map((s) => [s.customerId, s.mergedInto, s.lastPosition, JSON.stringify(s)]),
    );
    for (const m of batch.models) {
      await trx
        .insertInto('churn_models')
        .values(m)
        .onConflict((oc) => oc.column('version').doNothing())
        .execute();
    }
  }
}

async function load(sql: DirectSql, ids: string[]): Promise<ChurnFacts[]> {
  const rows = await sql.selectByKeys<{ facts: string }>('churn_customers', ['facts'], 'customer_id', ids);
  return rows.map((r) => JSON.parse(r.facts) as ChurnFacts);
}
