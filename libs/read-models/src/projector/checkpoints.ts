import type { Kysely, Transaction } from 'kysely';
import type { ReadModelsDb } from '../store/read-models-db';

type Db = Kysely<ReadModelsDb> | Transaction<ReadModelsDb>;

/** Checkpoints of the named projections (0 for one that never ran). */
export async function readCheckpoints(db: Db, names: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>(names.map((n) => [n, 0]));
  if (names.length === 0) return out;
  const rows = await db.selectFrom('projection_checkpoints').select(['projection', 'position']).where('projection', 'in', [...names]).execute();
  for (const r of rows) out.set(r.projection, Number(r.position));
  return out;
}

export async function writeCheckpoint(trx: Db, name: string, position: number): Promise<void> {
  await trx
    .insertInto('projection_checkpoints')
    .values({ projection: name, position })
    .onConflict((oc) => oc.column('projection').doUpdateSet({ position }))
    .execute();
}

/** Empties a projection's tables and checkpoint, in one transaction, so it rebuilds from position 0. */
export async function resetProjection(db: Kysely<ReadModelsDb>, name: string, tables: readonly (keyof ReadModelsDb & string)[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const table of tables) await trx.deleteFrom(table).execute();
    await trx.deleteFrom('projection_checkpoints').where('projection', '=', name).execute();
  });
}
