import type { Kysely, Transaction } from 'kysely';

type Db = Kysely<any> | Transaction<any>;

/**
 * `building` (the shadow is being projected, or was interrupted: resumable), `verified` (caught up and
 * equal to a fresh rebuild: ready to switch), `switched` (the shadow's rows are live, the old copy is
 * kept), `dropped` (the kept copy, or an abandoned shadow, is deleted), `failed` (the shadow did not
 * verify: nothing switched).
 */
export type RebuildState = 'building' | 'verified' | 'switched' | 'dropped' | 'failed';

/** One blue/green rebuild as the registry (`read_model_rebuilds`, in the live read store) keeps it. */
export interface RebuildRecord {
  id: string;
  readModels: string[];
  state: RebuildState;
  /** what it does now: projecting, catching-up, verifying, switching, waiting-for-switch, done */
  phase: string;
  shadowCopy: string;
  /** the copy of the replaced rows, kept after the switch until `cem rebuild drop` */
  oldCopy: string | null;
  /** `pid@host` of the process working on it */
  owner: string;
  /** refreshed every few seconds while a process works on it: an older one means it was interrupted */
  heartbeatAt: string;
  startedAt: string;
  finishedAt: string | null;
  /**
   * the shadow's position (the slowest of its read models) and the head it is catching up to; in the
   * verifying phase, the scratch copy's position and the fixed position P the shadow is verified at
   */
  position: number;
  targetPosition: number;
  /** events projected by the process working on it (into the shadow, then the verification's scratch copy), and its rate */
  events: number;
  eventsPerSecond: number;
  etaSeconds: number | null;
  /** read model -> checksum of the verified shadow */
  checksums: Record<string, string> | null;
  message: string | null;
}

export const REBUILDS_TABLE = 'read_model_rebuilds';

const fromRow = (r: Record<string, any>): RebuildRecord => ({
  id: r.id,
  readModels: String(r.read_models).split(','),
  state: r.state,
  phase: r.phase,
  shadowCopy: r.shadow_copy,
  oldCopy: r.old_copy ?? null,
  owner: r.owner,
  heartbeatAt: r.heartbeat_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at ?? null,
  position: Number(r.position),
  targetPosition: Number(r.target_position),
  events: Number(r.events),
  eventsPerSecond: Number(r.events_per_second),
  etaSeconds: r.eta_seconds === null || r.eta_seconds === undefined ? null : Number(r.eta_seconds),
  checksums: r.checksums ? JSON.parse(r.checksums) : null,
  message: r.message ?? null,
});

const toRow = (r: RebuildRecord) => ({
  id: r.id,
  read_models: r.readModels.join(','),
  state: r.state,
  phase: r.phase,
  shadow_copy: r.shadowCopy,
  old_copy: r.oldCopy,
  owner: r.owner,
  heartbeat_at: r.heartbeatAt,
  started_at: r.startedAt,
  finished_at: r.finishedAt,
  position: r.position,
  target_position: r.targetPosition,
  events: r.events,
  events_per_second: r.eventsPerSecond,
  eta_seconds: r.etaSeconds,
  checksums: r.checksums ? JSON.stringify(r.checksums) : null,
  message: r.message,
});

/** Every rebuild, newest first (at most `limit`). */
export async function listRebuilds(db: Db, limit = 100): Promise<RebuildRecord[]> {
  const rows = await db.selectFrom(REBUILDS_TABLE).selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return rows.map(fromRow);
}

export async function readRebuild(db: Db, id: string): Promise<RebuildRecord | undefined> {
  const row = await db.selectFrom(REBUILDS_TABLE).selectAll().where('id', '=', id).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** The rebuild that is not finished with (building, verified, or switched with its old copy kept), if any. */
export async function openRebuild(db: Db): Promise<RebuildRecord | undefined> {
  const row = await db
    .selectFrom(REBUILDS_TABLE)
    .selectAll()
    .where('state', 'in', ['building', 'verified', 'switched', 'failed'])
    .orderBy('started_at', 'desc')
    .executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

export async function insertRebuild(db: Db, r: RebuildRecord): Promise<void> {
  await db.insertInto(REBUILDS_TABLE).values(toRow(r)).execute();
}

export async function saveRebuild(db: Db, r: RebuildRecord): Promise<void> {
  const { id, ...rest } = toRow(r);
  await db.updateTable(REBUILDS_TABLE).set(rest).where('id', '=', id).execute();
}
