import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { EventStore } from '@cem/event-store';
import type { ReadModel } from '../kit/read-model';
import { readCheckpoint, readCheckpoints } from '../projector/checkpoints';
import { READ_MODELS } from '../read-models';
import { projectRange } from '../projector/project-range';
import { READ_MODELS_FILE, type ReadStoreLocation } from '../store/open-read-store';
import type { ReadStore } from '../store/read-store';
import { copyFileOf, dropReadStoreCopy, openReadStoreCopy } from '../store/read-store-copy';
import { checksumReadModel, type ReadModelChecksum } from '../verify/read-model-checksum';
import { compare, type ReadModelVerdict } from '../verify/verify-read-models';
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
  /**
   * called once the shadow's checksums at the verification's position are taken, before the scratch
   * copy is projected to it (tests append events there: the shadow must follow them meanwhile)
   */
  onVerifyingAt?: (position: number) => Promise<void> | void;
  /** how long the shadow waits for new events while it follows the log during the verification (default 500 ms) */
  followIntervalMs?: number;
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
        const at = await catchUp(ctx, shadow, models, record, heartbeat, stopIfAsked);
        record.phase = 'verifying';
        await heartbeat.save();
        const verdicts = await verifyAtPosition(ctx, shadow, models, record, heartbeat, stopIfAsked, at);
        const wrong = verdicts.filter((v) => v.status !== 'equal');
        if (wrong.length > 0) {
          record.state = 'failed';
          record.phase = 'done';
          record.message = `the shadow at position ${at} differs from a fresh rebuild to ${at} in ${wrong.map((v) => v.readModel).join(', ')}: nothing switched (drop it: cem rebuild drop)`;
          await heartbeat.save();
          throw new RebuildError('verify-failed', record.message);
        }
        record.state = 'verified';
        record.checksums = Object.fromEntries(verdicts.map((v) => [v.readModel, v.rebuilt!.checksum]));
        record.message = `verified at position ${at}`;
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

/** A rebuild some process is working on now (its owner alive, its heartbeat fresh), not one waiting or interrupted. */
function isRunning(ctx: RebuildContext, r: RebuildRecord): boolean {
  return (
    (r.state === 'building' || r.state === 'verified') && !ownerGone(ctx, r) && r.finishedAt === null && r.phase !== 'waiting-for-switch'
  );
}

function runningError(r: RebuildRecord): RebuildError {
  return new RebuildError(
    'running',
    `rebuild ${r.id} of ${r.readModels.join(', ')} is running (${r.owner}, ${r.phase}, position ${r.position} of ${r.targetPosition}): wait for it, or see cem rebuild status`,
  );
}

/** Finds the rebuild to work on: a new one, or the interrupted one of the same read models. */
async function claim(ctx: RebuildContext, models: readonly ReadModel[]): Promise<RebuildRecord> {
  const now = ctx.now ?? Date.now;
  const names = models.map((m) => m.name);
  // a rebuild running now is refused from a plain read, before waiting for the write lock below: a
  // projector's long batch can hold that lock for seconds, and the refusal needs none of it
  const seen = await openRebuild(ctx.live.db);
  if (seen && isRunning(ctx, seen)) throw runningError(seen);
  return ctx.live.db.transaction().execute(async (trx) => {
    // write first: on SQLite a transaction that reads and then writes fails at once (SQLITE_BUSY) when
    // the projector committed in between; a first write waits for the lock instead
    await sql`UPDATE ${sql.table(REBUILDS_TABLE)} SET id = id WHERE id = ''`.execute(trx);
    const open = await openRebuild(trx);
    if (open) {
      const same = open.readModels.join(',') === names.join(',');
      if (isRunning(ctx, open)) throw runningError(open);
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
 * projects the whole log: a rebuild of all six does six times the log's events). Returns the position
 * reached, where every read model of the shadow is: the one its verification is done at.
 */
async function catchUp(
  ctx: RebuildContext,
  shadow: ReadStore,
  models: readonly ReadModel[],
  record: RebuildRecord,
  heartbeat: Heartbeat,
  stopIfAsked: () => void,
): Promise<number> {
  const batch = ctx.batchSize ?? 5_000;
  let total = 0;
  for (let target = await ctx.store.headPosition(); ;) {
    total += await projectWithProgress(ctx, shadow, models, record, heartbeat, stopIfAsked, target, total);
    record.phase = 'catching-up';
    await heartbeat.save();
    const head = await ctx.store.headPosition();
    if (head - target < batch) return target;
    target = head;
  }
}

/**
 * Projects `copy` (the shadow, or the verification's scratch copy) up to `to`, saying its progress in
 * the record: position (the slowest read model), target, events (on top of `before`), rate and ETA.
 * Returns the events it owed (each read model projects its own way to `to`).
 */
async function projectWithProgress(
  ctx: RebuildContext,
  copy: ReadStore,
  models: readonly ReadModel[],
  record: RebuildRecord,
  heartbeat: Heartbeat,
  stopIfAsked: () => void,
  to: number,
  before: number,
): Promise<number> {
  const done = await readCheckpoints(copy.db, record.readModels);
  const owed = () => [...done.values()].reduce((n, p) => n + Math.max(0, to - p), 0);
  const work = owed();
  heartbeat.progress(Math.min(...done.values()), to, before);
  await projectRange({
    store: ctx.store,
    db: copy.db,
    dataDir: ctx.dataDir,
    readModels: models,
    to,
    batchSize: ctx.batchSize,
    onProgress: (p) => {
      stopIfAsked();
      done.set(p.readModel, p.position);
      heartbeat.progress(Math.min(...done.values()), to, before + p.events);
      const rate = record.eventsPerSecond;
      record.etaSeconds = rate > 0 ? Math.round(owed() / rate) : null;
    },
  });
  heartbeat.progress(to, to, before + work);
  record.etaSeconds = 0;
  return work;
}

/** The scratch copy a rebuild's verification projects (named after its shadow: a resumed verification finds it). */
export const scratchCopyOf = (shadowCopy: string) => shadowCopy.replace('cem_shadow_', 'cem_verify_');

/**
 * Verifies the shadow at the fixed position `at` (where its catch-up ended): takes its checksums
 * there, then projects a scratch copy from position 0 to exactly `at` (`cem verify`'s fresh
 * rebuild, same code, its own copy) and compares, table by table and customer by customer. Meanwhile
 * the shadow keeps following the log in the same process (the two projections take turns between
 * batches), so that after a verification of many minutes under ingestion the switch has only the
 * last few seconds of events to project, not everything ingested during the verification.
 * The scratch copy is kept when the rebuild is interrupted: a resumed rebuild re-verifies at its new
 * position, continuing the scratch copy from its checkpoints (a projection resumed from its
 * checkpoint equals one run in one go, as the live projector relies on).
 */
async function verifyAtPosition(
  ctx: RebuildContext,
  shadow: ReadStore,
  models: readonly ReadModel[],
  record: RebuildRecord,
  heartbeat: Heartbeat,
  stopIfAsked: () => void,
  at: number,
): Promise<ReadModelVerdict[]> {
  const expected: { model: ReadModel; version: number; checksum: ReadModelChecksum }[] = [];
  for (const model of models) {
    stopIfAsked();
    const checkpoint = await readCheckpoint(shadow.db, model.name);
    if (checkpoint?.position !== at)
      throw new Error(`the shadow's ${model.name} is at ${checkpoint?.position ?? 'no position'}, not ${at}`);
    expected.push({
      model,
      version: checkpoint.version,
      checksum: await checksumReadModel(shadow.db, shadow.kind, model, { perCustomer: true }),
    });
  }
  await ctx.onVerifyingAt?.(at);
  const scratchName = scratchCopyOf(record.shadowCopy);
  const scratch = await openReadStoreCopy(ctx.location, scratchName, models);
  const following = { active: true, position: at };
  const describe = () =>
    `verifying the shadow at position ${at} (a scratch rebuild from 0 to ${at}); meanwhile the shadow follows the log, at ${following.position}`;
  record.message = describe();
  const follower = followLog(ctx, shadow, models, following, () => {
    stopIfAsked();
    record.message = describe();
  });
  let verdicts: ReadModelVerdict[];
  try {
    await projectWithProgress(ctx, scratch, models, record, heartbeat, stopIfAsked, at, record.events);
    verdicts = [];
    for (const { model, version, checksum } of expected) {
      stopIfAsked();
      // the version this code's lane wrote (a projection may add its configuration to the model's)
      const codeVersion = (await readCheckpoint(scratch.db, model.name))?.version ?? model.version;
      const rebuilt = await checksumReadModel(scratch.db, scratch.kind, model, { perCustomer: true });
      verdicts.push(compare(model.name, at, version, codeVersion, checksum, rebuilt));
    }
  } finally {
    following.active = false;
    // the follower's round under way ends first (the shadow's connection is closed after this)
    await follower.catch(() => undefined);
    await scratch.close();
  }
  await dropReadStoreCopy(ctx.location, scratchName);
  return verdicts;
}

/**
 * Keeps the shadow following the head of the log while `state.active`: each round projects what was
 * appended since the last one (small rounds: the verification's scratch projection takes turns with
 * it between batches), then waits for more. The round under way when it is told to stop is finished.
 */
async function followLog(
  ctx: RebuildContext,
  shadow: ReadStore,
  models: readonly ReadModel[],
  state: { active: boolean; position: number },
  onRound: () => void,
): Promise<void> {
  while (state.active) {
    const head = await ctx.store.headPosition();
    if (head > state.position) {
      const reached = await projectRange({
        store: ctx.store,
        db: shadow.db,
        dataDir: ctx.dataDir,
        readModels: models,
        to: head,
        batchSize: ctx.batchSize,
        onProgress: onRound,
      });
      state.position = Math.min(...reached.values());
      onRound();
    } else await delay(ctx.followIntervalMs ?? 500);
  }
}

/**
 * Switches a verified rebuild in one transaction of the live store, holding the live write lock as
 * briefly as the store allows. Before it, the shadow is caught up to the head of the log (it kept
 * following it during the verification, so that is seconds of events). Under the lock, the shadow
 * first catches up to the live copy's checkpoint (the events of the last moments), then:
 * - PostgreSQL: each table of the live copy moves to the old copy's schema and the shadow's table of
 *   the same name moves into the live schema (ALTER TABLE ... SET SCHEMA: no row is copied), and the
 *   analysts' views over them are re-pointed (a view follows the table it was created on);
 * - SQLite (the shadow is a file of its own, and a table cannot move between files): the old copy was
 *   saved before, outside the lock, from a read snapshot of the live file (with the live checkpoint of
 *   that snapshot); under the lock each live table is emptied and filled from the shadow's by
 *   `INSERT ... SELECT *`, which SQLite copies record by record without decoding them when both tables
 *   have the same shape (they are made by the same migrations).
 * In both, the read model's checkpoint becomes the shadow's in the same transaction: readers see the
 * old rows until the commit and the new ones after it, never an empty table. The live projector's next
 * batch waits for the transaction (it locks the checkpoint rows first, as the switch does; on SQLite
 * its busy timeout is 10 s), finds its checkpoint moved (the fencing claim of ProjectionLane) and
 * resumes from the shadow's. The time under the lock is said in the record's message.
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
  const location = ctx.location;
  const db = ctx.live.db as Kysely<any>;
  const names = record.readModels;
  const projectShadow = async (to: number) =>
    projectRange({ store: ctx.store, db: shadow.db, dataDir: ctx.dataDir, readModels: models, to, batchSize: ctx.batchSize });
  let switched = false;
  try {
    await projectShadow(await ctx.store.headPosition());
    if (location.kind === 'sqlite') {
      await saveOldCopy(location.dataDir, oldCopy, models);
      // the head moved while the old copy was saved
      await projectShadow(await ctx.store.headPosition());
      await sql`ATTACH DATABASE ${copyFileOf(location.dataDir, record.shadowCopy)} AS cem_shadow`.execute(db);
    }
    try {
      // the live copy's schema: the connection's own (its search_path), not necessarily `public`
      const liveQ =
        location.kind === 'sqlite' ? 'main' : (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0].schema;
      const copyAll = location.kind === 'sqlite' ? await copyStatements(db, models, liveQ, 'cem_shadow') : [];
      let lockedMs = 0;
      let switchedAt = Infinity;
      for (let attempt = 1; ; attempt++) {
        try {
          await db.transaction().execute(async (trx) => {
            // a lock the switch waits for makes every reader after it wait too: give up and try again instead
            if (location.kind === 'postgres') await sql`SET LOCAL lock_timeout = '5s'`.execute(trx);
            // first the checkpoint rows, as a projector batch does: whoever holds them goes first, no deadlock
            await sql`UPDATE ${sql.table(`${liveQ}.projection_checkpoints`)} SET position = position WHERE projection IN (${sql.join(names)})`.execute(
              trx,
            );
            const locked = performance.now();
            const live = await readCheckpoints(trx, names);
            const behind = Math.max(...live.values());
            switchedAt = Infinity;
            // the shadow never goes live behind the live copy: it catches up to it first (its own connection)
            await projectShadow(behind);
            if (location.kind === 'sqlite') for (const statement of copyAll) await statement.execute(trx);
            else await swapSchemas(trx, models, liveQ, record.shadowCopy, oldCopy);
            for (const model of models) {
              const fresh = (await readCheckpoint(shadow.db, model.name))!;
              switchedAt = Math.min(switchedAt, fresh.position);
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
            record.position = switchedAt;
            record.targetPosition = switchedAt;
            record.message = `switched at position ${switchedAt}; old copy ${oldCopy} kept until cem rebuild drop ${record.id}`;
            await saveRebuild(trx, record);
            lockedMs = performance.now() - locked;
          });
          break;
        } catch (e) {
          // PostgreSQL: lock_timeout (a long reader) or a deadlock with a reader; rolled back whole
          const code = (e as { code?: string }).code;
          if (location.kind !== 'postgres' || (code !== '55P03' && code !== '40P01') || attempt >= 5) throw e;
          record.state = 'verified';
          record.phase = 'switching';
          record.oldCopy = null;
          record.finishedAt = null;
          await delay(200 * attempt);
        }
      }
      switched = true;
      const how = location.kind === 'sqlite' ? 'rows copied from the shadow file' : 'tables moved between schemas';
      record.message = `switched at position ${switchedAt} (${Math.round(lockedMs)} ms under the live write lock, ${how}); old copy ${oldCopy} kept until cem rebuild drop ${record.id}`;
      await saveRebuild(ctx.live.db, record);
    } finally {
      if (location.kind === 'sqlite') await sql`DETACH DATABASE cem_shadow`.execute(db).catch(() => undefined);
    }
  } catch (e) {
    // nothing switched: the old copy made for it goes again
    if (!switched) await dropReadStoreCopy(location, oldCopy);
    throw e;
  } finally {
    await shadow.close();
  }
  // the shadow's rows are live now: its copy is no longer needed
  await dropReadStoreCopy(location, record.shadowCopy);
  ctx.onProgress?.(record);
  return record;
}

/**
 * SQLite: the old copy (a file of its own) gets the live copy's rows and checkpoints of `models`
 * from one read snapshot of the live file, outside the live write lock (the projector goes on
 * writing meanwhile; the old copy is the live copy as it was at the checkpoint it records).
 */
async function saveOldCopy(dataDir: string, oldCopy: string, models: readonly ReadModel[]): Promise<void> {
  const old = await openReadStoreCopy({ kind: 'sqlite', dataDir }, oldCopy, models);
  const db = old.db as Kysely<any>;
  try {
    await sql`ATTACH DATABASE ${join(resolve(dataDir), READ_MODELS_FILE)} AS cem_live`.execute(db);
    try {
      const copyAll = await copyStatements(db, models, 'main', 'cem_live');
      const names = models.map((m) => m.name);
      await db.transaction().execute(async (trx) => {
        for (const statement of copyAll) await statement.execute(trx);
        await sql`INSERT OR REPLACE INTO main.projection_checkpoints (projection, position, version) SELECT projection, position, version FROM cem_live.projection_checkpoints WHERE projection IN (${sql.join(names)})`.execute(
          trx,
        );
      });
    } finally {
      await sql`DETACH DATABASE cem_live`.execute(db).catch(() => undefined);
    }
  } finally {
    await old.close();
  }
}

/**
 * SQLite: the statements that replace the rows of every table of `models` in schema `to` by those of
 * schema `from` (two attached files). `SELECT *` when both tables have the same columns in the same
 * order (the same migrations made them): SQLite then copies each record and index entry as it is
 * (its transfer optimization into an empty table), several times faster than naming the columns.
 */
async function copyStatements(db: Kysely<any>, models: readonly ReadModel[], to: string, from: string) {
  const statements = [];
  for (const model of models) {
    for (const table of model.tables) {
      const columnsIn = async (schema: string) =>
        (await sql<{ name: string }>`SELECT name FROM pragma_table_info(${table}, ${schema})`.execute(db)).rows.map((r) => r.name);
      const [target, source] = [await columnsIn(to), await columnsIn(from)];
      const t = (schema: string) => sql.table(`${schema}.${table}`);
      const cols = sql.join(target.map((c) => sql.ref(c)));
      statements.push(sql`DELETE FROM ${t(to)}`);
      statements.push(
        target.join(',') === source.join(',')
          ? sql`INSERT INTO ${t(to)} SELECT * FROM ${t(from)}`
          : sql`INSERT INTO ${t(to)} (${cols}) SELECT ${cols} FROM ${t(from)}`,
      );
    }
  }
  return statements;
}

/**
 * PostgreSQL, inside the switch transaction: the live tables of `models` move to the old copy's
 * schema (made here, with the checkpoints they were at), the shadow's move into the live schema, and
 * the views over the live tables are made again on the new ones (a view refers to a table, not to its
 * name: left alone it would follow the old table into the old copy). No row is copied.
 */
async function swapSchemas(trx: Transaction<any>, models: readonly ReadModel[], liveQ: string, shadowQ: string, oldQ: string) {
  const tables = models.flatMap((m) => m.tables);
  const { rows: views } = await sql<{ name: string; definition: string }>`
    SELECT DISTINCT v.relname AS name, pg_get_viewdef(v.oid) AS definition
    FROM pg_depend d
    JOIN pg_rewrite r ON r.oid = d.objid
    JOIN pg_class v ON v.oid = r.ev_class
    JOIN pg_class t ON t.oid = d.refobjid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND v.oid <> t.oid
      AND t.relname = ANY(${tables}) AND t.relnamespace = ${liveQ}::regnamespace AND v.relnamespace = ${liveQ}::regnamespace`.execute(trx);
  await sql`CREATE SCHEMA ${sql.id(oldQ)}`.execute(trx);
  await sql`CREATE TABLE ${sql.table(`${oldQ}.projection_checkpoints`)} (LIKE ${sql.table(`${liveQ}.projection_checkpoints`)} INCLUDING ALL)`.execute(
    trx,
  );
  await sql`INSERT INTO ${sql.table(`${oldQ}.projection_checkpoints`)} SELECT * FROM ${sql.table(`${liveQ}.projection_checkpoints`)} WHERE projection IN (${sql.join(models.map((m) => m.name))})`.execute(
    trx,
  );
  for (const table of tables) {
    await sql`ALTER TABLE ${sql.table(`${liveQ}.${table}`)} SET SCHEMA ${sql.id(oldQ)}`.execute(trx);
    await sql`ALTER TABLE ${sql.table(`${shadowQ}.${table}`)} SET SCHEMA ${sql.id(liveQ)}`.execute(trx);
  }
  // the definitions were read with the live schema first on the search_path: their table names are
  // unqualified, and now name the shadow's tables
  for (const view of views)
    await sql`CREATE OR REPLACE VIEW ${sql.table(`${liveQ}.${view.name}`)} AS ${sql.raw(view.definition.trim().replace(/;$/, ''))}`.execute(
      trx,
    );
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
  // and the scratch copy of a verification that was interrupted (nothing when there is none)
  if (record.state !== 'switched') await dropReadStoreCopy(ctx.location, scratchCopyOf(record.shadowCopy));
  record.state = 'dropped';
  record.phase = 'done';
  record.finishedAt ??= iso(now());
  record.message = `${record.message ? `${record.message}; ` : ''}dropped ${copy}`;
  await saveRebuild(ctx.live.db, record);
  return record;
}
