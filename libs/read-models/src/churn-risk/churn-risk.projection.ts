import { Inject, Injectable, Optional } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { CustomerStates, customersTouchedBy } from '../kit/customer-states';
import { ProjectedEvent } from '../projector/projected-event';
import type { ProjectedRecord } from '../projector/projected-record';
import { PROJECTION_CONTEXT, type Projection, type ProjectionContext } from '../projector/projection';
import { churnFactsModel, foldChurnFacts, type ChurnFacts } from './churn-facts';
import { CHURN_RISK, type ChurnModelsTable, type ChurnRiskTables } from './churn-risk.schema';

interface ChurnRiskBatch {
  customers: CustomerStates<ChurnFacts>;
  models: ChurnModelsTable[];
}

/** Loads in chunks: one statement per chunk of ids, whatever the batch size. */
const CHUNK = 500;

/**
 * The churn-risk projection: each customer's facts with their instants (churn-facts.ts), on the
 * customer-keyed kit (merges, redelivery), and the fitted models. Scores are not projected: they
 * depend on the as-of instant and are evaluated by the queries (churn-risk.query.ts). Written
 * with the query builder only (portable to the PostgreSQL read store).
 */
@Injectable()
@EventsHandler(ProjectedEvent)
export class ChurnRiskProjection implements IEventHandler<ProjectedEvent>, Projection<ChurnRiskBatch, ChurnRiskTables> {
  readonly projectionName = CHURN_RISK;

  constructor(@Optional() @Inject(PROJECTION_CONTEXT) private readonly context?: ProjectionContext) {}

  async beginBatch(trx: Transaction<ChurnRiskTables>, records: readonly ProjectedRecord[]): Promise<ChurnRiskBatch> {
    const customers = new CustomerStates(churnFactsModel);
    customers.preload(await load(trx, customersTouchedBy(records)));
    const survivors = new Set<string>();
    for (const s of customers.all()) if (s.mergedInto !== null && !customers.has(s.mergedInto)) survivors.add(s.mergedInto);
    customers.preload(await load(trx, [...survivors]));
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

  async commitBatch(trx: Transaction<ChurnRiskTables>, batch: ChurnRiskBatch): Promise<void> {
    const rows = batch.customers.changedStates().map((s) => ({
      customer_id: s.customerId,
      merged_into: s.mergedInto,
      last_position: s.lastPosition,
      facts: JSON.stringify(s),
    }));
    for (let i = 0; i < rows.length; i += CHUNK) {
      await trx
        .insertInto('churn_customers')
        .values(rows.slice(i, i + CHUNK))
        .onConflict((oc) =>
          oc.column('customer_id').doUpdateSet((eb) => ({
            merged_into: eb.ref('excluded.merged_into'),
            last_position: eb.ref('excluded.last_position'),
            facts: eb.ref('excluded.facts'),
          })),
        )
        .execute();
    }
    for (const m of batch.models) {
      await trx
        .insertInto('churn_models')
        .values(m)
        .onConflict((oc) => oc.column('version').doNothing())
        .execute();
    }
  }
}

async function load(trx: Transaction<ChurnRiskTables>, ids: string[]): Promise<ChurnFacts[]> {
  const out: ChurnFacts[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await trx
      .selectFrom('churn_customers')
      .select('facts')
      .where('customer_id', 'in', ids.slice(i, i + CHUNK))
      .execute();
    for (const r of rows) out.push(JSON.parse(r.facts) as ChurnFacts);
  }
  return out;
}
