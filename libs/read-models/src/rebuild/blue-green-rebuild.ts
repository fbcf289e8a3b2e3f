import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, type Kysely } from 'kysely';
import type { EventStore } from '@cem/event-store';
import type { ReadModel } from '../kit/read-model';
import { readCheckpoint, readCheckpoints } from '../projector/checkpoints';
import { READ_MODELS } from '../read-models';
import { projectRange } from '../projector/project-range';
import type { ReadStoreLocation } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { copyFileOf, dropReadStoreCopy, openReadStoreCopy } from '../store/read-store-copy';
import { tableShape } from '../verify/read-model-checksum';
import { verifyReadModels } from '../verify/verify-read-models';
import { insertRebuild, openRebuild, readRebuild, REBUILDS_TABLE, saveRebuild, type RebuildRecord } from './rebuild-registry';

/** A refused rebuild command: `code` says which refusal; nothing was started, switched or dropped. */
export class RebuildError extends Error {
  constructor(
    readonly code: 'running' | 'pending' | 'not-verified' | 'no-such-rebuild' | 'nothing-to-drop' | 'verify-failed',
    message: string,
  ) {
    super(message);
    this.name = 'RebuildError';
  }
}

export interface RebuildContext {
  store: EventStore;
  location: ReadStoreLocation;
  /** the live read store (its write connection: the switch and the registry write through it) */
  live: ReadStore;
  dataDir?: string;
  batchSize?: number;
  /** called with the record each time its progress is saved (every `heartbeatMs`) and at each phase */
  onProgress?: (r: RebuildRecord) => void;
  /** how often progress and the heartbeat are saved (default 2 s) */
  heartbeatMs?: number;
  /** a rebuild whose heartbeat is older than this was interrupted and may be resumed (default 15 s) */
  staleAfterMs?: number;
  now?: () => number;
  /** called once the rebuild is claimed (new, or the interrupted one resumed): before any projection */
  onClaimed?: (r: RebuildRecord) => void;
  /**
   * asked at each batch of the shadow and of the verification's scratch copy: true stops the rebuild
   * there (RebuildStopped), with what it committed kept: a later run resumes it
   */
  shouldStop?: () => boolean;
}

/** The rebuild was stopped (RebuildContext.shouldStop): resumable from what its shadow committed. */
export class RebuildStopped extends Error {
  constructor(id: string) {
    super(`rebuild ${id} stopped: the process working on it is shutting down; run it again to resume`);
    this.name = 'RebuildStopped';
  }
}

const owner = () => `${process.pid}@${hostname()}`;

/**
 * Whether the process that worked on a rebuild is gone: its heartbeat stopped (`staleAfterMs`), or it
 * ran on this host and its pid no longer exists (a kill -9 is seen at once, not after the delay).
 */
function ownerGone(ctx: RebuildContext, r: RebuildRecord): boolean {
  if ((ctx.now ?? Date.now)() - Date.parse(r.heartbeatAt) >= (ctx.staleAfterMs ?? 15_000)) return true;
  const [pid, host] = r.owner.split('@');
  if (host !== hostname() || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Rebuilds `models` blue/green: projects the log from position 0 into a shadow copy (a file or a
 * schema of its own, see read-store-copy.ts) while the live copy keeps serving and the projector
 * keeps projecting it; catches the shadow up to the head of the log; verifies it against a fresh
 * rebuild into a scratch copy (`cem verify`'s comparison); then, unless `switchWhenVerified` is
 * false, switches (switchRebuild). Resumes an interrupted rebuild of the same read models from the
 * shadow's checkpoints. Refuses (RebuildError) while another rebuild runs or is not finished with.
 */
export async function runRebuild(ctx: RebuildContext, models: readonly ReadModel[], switchWhenVerified = true): Promise<RebuildRecord> {
  const record = await claim(ctx, models);
  ctx.onClaimed?.({ ...record });
  const stopIfAsked = () => {
    if (ctx.shouldStop?.()) throw new RebuildStopped(record.id);
  };
  const heartbeat = startHeartbeat(ctx, record);
  try {
    const shadow = await openReadStoreCopy(ctx.location, record.shadowCopy, models);
    try {
      if (record.state === 'building') {
        record.phase = 'projecting';
        await catchUp(ctx, shadow, models, record, heartbeat, stopIfAsked);
        record.phase = 'verifying';
        await heartbeat.save();
        const verdicts = await verifyReadModels({
          store: ctx.store,
          location: ctx.location,
          live: shadow,
          readModels: models,
          dataDir: ctx.dataDir,
          batchSize: ctx.batchSize,
          onProgress: stopIfAsked,
        });
        const wrong = verdicts.filter((v) => v.status !== 'equal');
        if (wrong.length > 0) {
          record.state = 'failed';
          record.phase = 'done';
          record.message = `the shadow differs from a fresh rebuild in ${wrong.map((v) => v.readModel).join(', ')}: nothing switched (drop it: cem rebuild drop)`;
          await heartbeat.save();
          throw new RebuildError('verify-failed', record.message);
        }
        record.state = 'verified';
        record.checksums = Object.fromEntries(verdicts.map((v) => [v.readModel, v.rebuilt!.checksum]));
        record.message = `verified at position ${verdicts[0]?.position ?? 0}`;
      }
      record.phase = switchWhenVerified ? 'switching' : 'waiting-for-switch';
      await heartbeat.save();
    } finally {
      await shadow.close();
    }
  } finally {
    // the progress reached is recorded even when the rebuild stops on an error (the heartbeat alone
    // saved it only every few seconds, so an early interruption was listed at position 0)
    await heartbeat.save();
    await heartbeat.stop();
  }
  return switchWhenVerified ? switchRebuild(ctx, record.id) : record;
}

/** Finds the rebuild to work on: a new one, or the interrupted one of the same read models. */
async function claim(ctx: RebuildContext, models: readonly ReadModel[]): Promise<RebuildRecord> {
  const now = ctx.now ?? Date.now;
  const names = models.map((m) => m.name);
  return ctx.live.db.transaction().execute(async (trx) => {
    // write first: on SQLite a transaction that reads and then writes fails at once (SQLITE_BUSY) when
    // the projector committed in between; a first write waits for the lock instead
    await sql`UPDATE ${sql.table(REBUILDS_TABLE)} SET id = id WHERE id = ''`.execute(trx);
    const open = await openRebuild(trx);
    if (open) {
      const fresh = !ownerGone(ctx, open);
      const same = open.readModels.join(',') === names.join(',');
      if (
        (open.state === 'building' || open.state === 'verified') &&
        fresh &&
        open.finishedAt === null &&
        open.phase !== 'waiting-for-switch'
      )
        throw new RebuildError(
          'running',
          `rebuild ${open.id} of ${open.readModels.join(', ')} is running (${open.owner}, ${open.phase}, position ${open.position} of ${open.targetPosition}): wait for it, or see cem rebuild status`,
        );
      if ((open.state === 'building' || open.state === 'verified') && same) {
        open.owner = owner();
        open.heartbeatAt = iso(now());
        open.events = 0;
        await saveRebuild(trx, open);
        return open;
      }
      const next =
        open.state === 'switched'
          ? `its old copy is kept: drop it first (cem rebuild drop ${open.id})`
          : `switch or drop it first (cem rebuild switch ${open.id} / cem rebuild drop ${open.id})`;
      throw new RebuildError('pending', `rebuild ${open.id} of ${open.readModels.join(', ')} is ${open.state}: ${next}`);
    }
    const hex = randomBytes(5).toString('hex');
    const record: RebuildRecord = {
      id: `rb_${hex}`,
      readModels: names,
      state: 'building',
      phase: 'starting',
      shadowCopy: `cem_shadow_${hex}`,
      oldCopy: null,
      owner: owner(),
      heartbeatAt: iso(now()),
      startedAt: iso(now()),
      finishedAt: null,
      position: 0,
      targetPosition: await ctx.store.headPosition(),
      events: 0,
      eventsPerSecond: 0,
      etaSeconds: null,
      checksums: null,
      message: null,
    };
    await insertRebuild(trx, record);
    return record;
  });
}

interface Heartbeat {
  save(): Promise<void>;
  stop(): Promise<void>;
  /** the projection's progress: read models done and the one under way */
  progress(position: number, target: number, events: number): void;
}

function startHeartbeat(ctx: RebuildContext, record: RebuildRecord): Heartbeat {
  const now = ctx.now ?? Date.now;
  const started = now();
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    record.heartbeatAt = iso(now());
    const snapshot = { ...record };
    saving = saving.then(() => saveRebuild(ctx.live.db, snapshot)).catch(() => undefined);
    ctx.onProgress?.(snapshot);
    return saving;
  };
  const timer = setInterval(() => void save(), ctx.heartbeatMs ?? 2_000);
  return {
    save,
    async stop() {
      clearInterval(timer);
      await saving;
    },
    progress(position, target, events) {
      record.position = position;
      record.targetPosition = target;
      record.events = events;
      const secs = (now() - started) / 1000;
      record.eventsPerSecond = secs > 0 ? Math.round(events / secs) : 0;
    },
  };
}

/**
 * Projects the shadow up to the head of the log, again and again while ingestion keeps appending,
 * until what is left is less than a batch. Progress counts the work of every read model (each
 * projects the whole log: a rebuild of all five does five times the log's events).
 */
async function catchUp(
  ctx: RebuildContext,
  shadow: ReadStore,
  models: readonly ReadModel[],
  record: RebuildRecord,
  heartbeat: Heartbeat,
  stopIfAsked: () => void,
) {
  const batch = ctx.batchSize ?? 5_000;
  let total = 0;
  for (let target = await ctx.store.headPosition(); ;) {
    const done = await readCheckpoints(shadow.db, record.readModels);
    const owed = () => [...done.values()].reduce((n, p) => n + Math.max(0, target - p), 0);
    const work = owed();
    await projectRange({
      store: ctx.store,
      db: shadow.db,
      dataDir: ctx.dataDir,
      readModels: models,
      to: target,
      batchSize: ctx.batchSize,
      onProgress: (p) => {
        stopIfAsked();
        done.set(p.readModel, p.position);
        heartbeat.progress(Math.min(...done.values()), target, total + p.events);
        const rate = record.eventsPerSecond;
        record.etaSeconds = rate > 0 ? Math.round(owed() / rate) : null;
      },
    });
    total += work;
    heartbeat.progress(target, target, total);
    record.etaSeconds = 0;
    record.phase = 'catching-up';
    await heartbeat.save();
    const head = await ctx.store.headPosition();
    if (head - target < batch) return;
    target = head;
  }
}

/**
 * Switches a verified rebuild in one transaction of the live store: the live copy's rows of each
 * read model go to a kept old copy, the shadow's rows (caught up to at least the live checkpoint,
 * inside the transaction) take their place, and the read model's checkpoint becomes the shadow's.
 * Readers see the old rows until the commit and the new ones after it, never an empty table. The
 * live projector's next batch finds its checkpoint moved (the fencing claim of ProjectionLane) and
 * resumes from the shadow's; until then it waits for the transaction (it locks the checkpoint rows
 * first, as every batch of the projector does).
 */
export async function switchRebuild(ctx: RebuildContext, id?: string): Promise<RebuildRecord> {
  const now = ctx.now ?? Date.now;
  const record = id ? await readRebuild(ctx.live.db, id) : await openRebuild(ctx.live.db);
  if (!record) throw new RebuildError('no-such-rebuild', id ? `no rebuild ${id}` : 'no rebuild to switch');
  if (record.state !== 'verified')
    throw new RebuildError(
      'not-verified',
      `rebuild ${record.id} is ${record.state}, not verified: only a verified shadow is switched; nothing switched`,
    );
  const models = READ_MODELS.filter((m) => record.readModels.includes(m.name));
  const shadow = await openReadStoreCopy(ctx.location, record.shadowCopy, models);
  const oldCopy = record.shadowCopy.replace('cem_shadow_', 'cem_old_');
  // the old copy's tables, created (empty) by the read models' own migrations
  await (await openReadStoreCopy(ctx.location, oldCopy, models)).close();
  const sqlite = ctx.live.kind === 'sqlite';
  const db = ctx.live.db as Kysely<any>;
  let switched = false;
  try {
    await projectRange({ store: ctx.store, db: shadow.db, dataDir: ctx.dataDir, readModels: models, to: await ctx.store.headPosition() });
    if (sqlite && ctx.location.kind === 'sqlite') {
      await sql`ATTACH DATABASE ${copyFileOf(ctx.location.dataDir, record.shadowCopy)} AS cem_shadow`.execute(db);
      await sql`ATTACH DATABASE ${copyFileOf(ctx.location.dataDir, oldCopy)} AS cem_old`.execute(db);
    }
    const shadowQ = sqlite ? 'cem_shadow' : record.shadowCopy;
    const oldQ = sqlite ? 'cem_old' : oldCopy;
    // the live copy's schema: the connection's own (its search_path), not necessarily `public`
    const liveQ = sqlite ? 'main' : (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0].schema;
    try {
      await db.transaction().execute(async (trx) => {
        const names = record.readModels;
        // first the checkpoint rows, as a projector batch does: whoever holds them goes first, no deadlock
        await sql`UPDATE ${sql.table(`${liveQ}.projection_checkpoints`)} SET position = position WHERE projection IN (${sql.join(names)})`.execute(
          trx,
        );
        const live = await readCheckpoints(trx, names);
        const behind = Math.max(...live.values());
        // the shadow never goes live behind the live copy: it catches up to it first (its own connection)
        await projectRange({ store: ctx.store, db: shadow.db, dataDir: ctx.dataDir, readModels: models, to: behind });
        for (const model of models) {
          for (const table of model.tables) {
            const { columns } = await tableShape(trx, ctx.live.kind, table);
            const cols = sql.join(columns.map((c) => sql.ref(c)));
            const t = (schema: string) => sql.table(`${schema}.${table}`);
            await sql`INSERT INTO ${t(oldQ)} (${cols}) SELECT ${cols} FROM ${t(liveQ)}`.execute(trx);
            await sql`DELETE FROM ${t(liveQ)}`.execute(trx);
            await sql`INSERT INTO ${t(liveQ)} (${cols}) SELECT ${cols} FROM ${t(shadowQ)}`.execute(trx);
          }
          const kept = await readCheckpoint(trx, model.name);
          if (kept)
            await sql`INSERT INTO ${sql.table(`${oldQ}.projection_checkpoints`)} (projection, position, version) VALUES (${model.name}, ${kept.position}, ${kept.version})`.execute(
              trx,
            );
          const fresh = (await readCheckpoint(shadow.db, model.name))!;
          await sql`UPDATE ${sql.table(`${liveQ}.projection_checkpoints`)} SET position = ${fresh.position}, version = ${fresh.version} WHERE projection = ${model.name}`.execute(
            trx,
          );
          await sql`INSERT INTO ${sql.table(`${liveQ}.projection_checkpoints`)} (projection, position, version) SELECT ${model.name}, ${fresh.position}, ${fresh.version} WHERE NOT EXISTS (SELECT 1 FROM ${sql.table(`${liveQ}.projection_checkpoints`)} WHERE projection = ${model.name})`.execute(
            trx,
          );
        }
        record.state = 'switched';
        record.phase = 'done';
        record.oldCopy = oldCopy;
        record.finishedAt = iso(now());
        record.heartbeatAt = record.finishedAt;
        record.message = `switched at position ${Math.max(behind, record.position)}; old copy ${oldCopy} kept until cem rebuild drop ${record.id}`;
        await saveRebuild(trx, record);
      });
      switched = true;
    } finally {
      if (sqlite) {
        await sql`DETACH DATABASE cem_shadow`.execute(db).catch(() => undefined);
        await sql`DETACH DATABASE cem_old`.execute(db).catch(() => undefined);
      }
    }
  } catch (e) {
    // nothing switched: the kept-copy tables made for it go again
    if (!switched) await dropReadStoreCopy(ctx.location, oldCopy);
    throw e;
  } finally {
    await shadow.close();
  }
  // the shadow's rows are live now: its copy is no longer needed
  await dropReadStoreCopy(ctx.location, record.shadowCopy);
  ctx.onProgress?.(record);
  return record;
}

/**
 * Drops the copy a rebuild left: the old copy of a switched one, or the shadow of one that was
 * interrupted, failed or is waiting for its switch. Refuses a rebuild that is running.
 */
export async function dropRebuild(ctx: RebuildContext, id?: string): Promise<RebuildRecord> {
  const now = ctx.now ?? Date.now;
  const record = id ? await readRebuild(ctx.live.db, id) : await openRebuild(ctx.live.db);
  if (!record) throw new RebuildError(id ? 'no-such-rebuild' : 'nothing-to-drop', id ? `no rebuild ${id}` : 'no rebuild copy to drop');
  if (record.state === 'dropped') throw new RebuildError('nothing-to-drop', `rebuild ${record.id} was dropped already: no copy to drop`);
  if (record.state === 'building' && !ownerGone(ctx, record))
    throw new RebuildError('running', `rebuild ${record.id} is running (${record.owner}, ${record.phase}): stop it first; nothing dropped`);
  const copy = record.state === 'switched' ? record.oldCopy! : record.shadowCopy;
  await dropReadStoreCopy(ctx.location, copy);
  record.state = 'dropped';
  record.phase = 'done';
  record.finishedAt ??= iso(now());
  record.message = `${record.message ? `${record.message}; ` : ''}dropped ${copy}`;
  await saveRebuild(ctx.live.db, record);
  return record;
}
