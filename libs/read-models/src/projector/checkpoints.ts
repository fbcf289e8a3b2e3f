import type { Kysely, Transaction } from 'kysely';
// any store or transaction holding the checkpoints table (Kysely's schema types are invariant)
type Db = Kysely<any> | Transaction<any>;

export interface StoredCheckpoint {
  position: number;
  version: number;
}

/** The stored checkpoint of one read model, or undefined when it never committed one. */
export async function readCheckpoint(db: Db, name: string): Promise<StoredCheckpoint | undefined> {
  const row = await db
    .selectFrom('projection_checkpoints')
    .select(['position', 'version'])
    .where('projection', '=', name)
    .executeTakeFirst();
  return row ? { position: Number(row.position), version: Number(row.version) } : undefined;
}

/** Checkpoints of the named read models (0 for one that never ran). */
export async function readCheckpoints(db: Db, names: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>(names.map((n) => [n, 0]));
  if (names.length === 0) return out;
  const rows = await db
    .selectFrom('projection_checkpoints')
    .select(['projection', 'position'])
    .where('projection', 'in', [...names])
    .execute();
  for (const r of rows) out.set(r.projection, Number(r.position));
  return out;
}

export async function writeCheckpoint(trx: Db, name: string, position: number, version: number): Promise<void> {
  await trx
    .insertInto('projection_checkpoints')
    .values({ projection: name, position, version })
    .onConflict((oc) => oc.column('projection').doUpdateSet({ position, version }))
    .execute();
}

/**
 * Empties a read model's tables and sets its checkpoint to 0 at `version`, in one transaction, so
 * its lane rebuilds it from position 0.
 */
export async function resetProjection(db: Kysely<any>, name: string, tables: readonly string[], version: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const table of tables) await trx.deleteFrom(table).execute();
    await writeCheckpoint(trx, name, 0, version);
  });
}

/** Another writer moved a read model's checkpoint since this lane read it. */
export class CheckpointMovedError extends Error {
  constructor(name: string, expected: number) {
    super(
      `the checkpoint of ${name} is no longer ${expected}: another projector wrote this read store; restarting from the stored checkpoint`,
    );
    this.name = 'CheckpointMovedError';
  }
}

/**
 * Locks the read model's checkpoint row in `trx` (a no-op update: a row lock on PostgreSQL, the write
 * lock on SQLite) after checking it is still `expected`; a lane that never committed creates it at 0.
 * Throws CheckpointMovedError when another writer moved it.
 */
export async function claimCheckpoint(trx: Db, name: string, expected: number, version: number): Promise<void> {
  if (expected === 0) {
    await trx
      .insertInto('projection_checkpoints')
      .values({ projection: name, position: 0, version })
      .onConflict((oc) => oc.column('projection').doNothing())
      .execute();
  }
  const claimed = await trx
    .updateTable('projection_checkpoints')
    .set((eb) => ({ position: eb.ref('position') }))
    .where('projection', '=', name)
    .where('position', '=', expected)
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) throw new CheckpointMovedError(name, expected);
}
