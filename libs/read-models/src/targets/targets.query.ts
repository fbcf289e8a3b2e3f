import type { Kysely } from 'kysely';
import type { TargetDefinition } from '@cem/domain';
import type { TargetsTables } from './targets.schema';

export interface TargetView {
  targetId: string;
  version: number;
  target: TargetDefinition;
  createdAt: string;
  updatedAt: string;
  changedBy: string;
}

export interface TargetChange {
  version: number;
  kind: 'created' | 'changed';
  at: string;
  changedBy: string;
  position: number;
  target: TargetDefinition;
}

export class TargetsQueries {
  constructor(private readonly db: Kysely<TargetsTables>) {}

  /** Every target, by id (a deployment has tens of targets, not thousands: no paging). */
  async list(): Promise<TargetView[]> {
    const rows = await this.db.selectFrom('tg_targets').selectAll().orderBy('target_id').execute();
    return rows.map(toView);
  }

  async byId(targetId: string): Promise<TargetView | undefined> {
    const row = await this.db.selectFrom('tg_targets').selectAll().where('target_id', '=', targetId).executeTakeFirst();
    return row ? toView(row) : undefined;
  }

  /** The target's versions, oldest first: who changed what, when. */
  async changes(targetId: string): Promise<TargetChange[]> {
    const rows = await this.db.selectFrom('tg_changes').selectAll().where('target_id', '=', targetId).orderBy('version').execute();
    return rows.map((r) => ({
      version: Number(r.version),
      kind: r.kind as TargetChange['kind'],
      at: r.occurred_at,
      changedBy: r.changed_by,
      position: Number(r.position),
      target: JSON.parse(r.definition) as TargetDefinition,
    }));
  }
}

const toView = (r: TargetsTables['tg_targets']): TargetView => ({
  targetId: r.target_id,
  version: Number(r.version),
  target: JSON.parse(r.definition) as TargetDefinition,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  changedBy: r.changed_by,
});
