import { Injectable } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Kysely, Migration, Transaction } from 'kysely';
import { defineReadModel, ProjectedEvent, type DirectSql, type Projection, type ProjectedRecord } from '@cem/read-models';

/*
 * A read model written the way docs/read-models.md says, outside the library, for the kit's tests:
 * events per type. One folder, one definition; the tests put it in the list next to the customer 360.
 */

export interface TypeCountsTables {
  tc_counts: { type: string; n: number };
}

interface Batch {
  counts: Map<string, number>;
}

/** test knob: how long each batch takes (a slow read model, to show it holds no other back) */
export const typeCountsDelay = { ms: 0 };

@Injectable()
@EventsHandler(ProjectedEvent)
export class TypeCountsProjection implements IEventHandler<ProjectedEvent>, Projection<Batch, TypeCountsTables> {
  readonly projectionName = 'type-counts';

  async beginBatch(_trx: Transaction<TypeCountsTables>, _records: readonly ProjectedRecord[]): Promise<Batch> {
    if (typeCountsDelay.ms > 0) await new Promise((r) => setTimeout(r, typeCountsDelay.ms));
    return { counts: new Map() };
  }

  async handle(event: ProjectedEvent): Promise<void> {
    const batch = event.batch.stateFor(this, event.record.position);
    if (batch) batch.counts.set(event.record.type, (batch.counts.get(event.record.type) ?? 0) + 1);
  }

  async commitBatch(_trx: Transaction<TypeCountsTables>, batch: Batch, sql: DirectSql): Promise<void> {
    // a counter: the batch's count of each type (one row per type) added to the stored one
    await sql.upsert({ table: 'tc_counts', columns: ['type', 'n'], conflict: ['type'], update: [['n', 'tc_counts.n + excluded.n']] }, [
      ...batch.counts,
    ]);
  }
}

const migrations: Record<string, Migration> = {
  'type-counts-0001-counts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tc_counts')
        .addColumn('type', 'text', (c) => c.primaryKey())
        .addColumn('n', 'integer', (c) => c.notNull())
        .execute();
    },
  },
};

export const typeCounts = (version = 1) =>
  defineReadModel<TypeCountsTables>()({
    name: 'type-counts',
    version,
    tables: ['tc_counts'],
    migrations,
    projection: TypeCountsProjection,
    queries: (db) => ({
      async all(): Promise<Record<string, number>> {
        const rows = await db.selectFrom('tc_counts').select(['type', 'n']).orderBy('type').execute();
        return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
      },
    }),
  });
