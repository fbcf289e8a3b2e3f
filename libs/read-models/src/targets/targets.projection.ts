import { Injectable } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Transaction } from 'kysely';
import { ProjectedEvent } from '../projector/projected-event';
import type { ProjectedRecord } from '../projector/projected-record';
import type { Projection } from '../projector/projection';
import { utcInstant } from '../milestones/milestones.model';
import { TARGETS, type TargetsTables, type TgChangesTable, type TgTargetsTable } from './targets.schema';

interface TargetsBatch {
  targets: Map<string, TgTargetsTable>;
  changes: TgChangesTable[];
}

/**
 * The programme targets: each target's latest definition and every change. A change is applied
 * once (its version must follow the stored one), so a redelivered event changes nothing.
 */
@Injectable()
@EventsHandler(ProjectedEvent)
export class TargetsProjection implements IEventHandler<ProjectedEvent>, Projection<TargetsBatch, TargetsTables> {
  readonly projectionName = TARGETS;

  async beginBatch(trx: Transaction<TargetsTables>, records: readonly ProjectedRecord[]): Promise<TargetsBatch> {
    const ids = [...new Set(records.flatMap((r) => (r.type === 'target.created' || r.type === 'target.changed' ? [r.data.targetId] : [])))];
    const targets = new Map<string, TgTargetsTable>();
    if (ids.length > 0)
      for (const row of await trx.selectFrom('tg_targets').selectAll().where('target_id', 'in', ids).execute())
        targets.set(row.target_id, row);
    return { targets, changes: [] };
  }

  async handle(event: ProjectedEvent): Promise<void> {
    const batch = event.batch.stateFor(this, event.record.position);
    const record = event.record;
    if (!batch || (record.type !== 'target.created' && record.type !== 'target.changed')) return;
    const { targetId, version, target, changedBy } = record.data;
    const current = batch.targets.get(targetId);
    if (current && (version <= current.version || record.position <= current.last_position)) return;
    const at = utcInstant(record.metadata.occurredAt);
    const definition = JSON.stringify(target);
    batch.targets.set(targetId, {
      target_id: targetId,
      version,
      definition,
      created_at: current?.created_at ?? at,
      updated_at: at,
      changed_by: changedBy,
      last_position: record.position,
    });
    batch.changes.push({
      target_id: targetId,
      version,
      kind: record.type === 'target.created' ? 'created' : 'changed',
      position: record.position,
      occurred_at: at,
      changed_by: changedBy,
      definition,
    });
  }

  async commitBatch(trx: Transaction<TargetsTables>, batch: TargetsBatch): Promise<void> {
    if (batch.changes.length === 0) return;
    await trx
      .insertInto('tg_changes')
      .values(batch.changes)
      .onConflict((oc) => oc.columns(['target_id', 'version']).doNothing())
      .execute();
    const rows = [...batch.targets.values()].sort((a, b) => (a.target_id < b.target_id ? -1 : 1));
    await trx
      .insertInto('tg_targets')
      .values(rows)
      .onConflict((oc) =>
        oc.column('target_id').doUpdateSet((eb) => ({
          version: eb.ref('excluded.version'),
          definition: eb.ref('excluded.definition'),
          updated_at: eb.ref('excluded.updated_at'),
          changed_by: eb.ref('excluded.changed_by'),
          last_position: eb.ref('excluded.last_position'),
        })),
      )
      .execute();
  }
}
