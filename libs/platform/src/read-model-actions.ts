import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  dropRebuild,
  openReadStore,
  READ_MODELS,
  READ_MODELS_FILE,
  readStoreLocationOf,
  RebuildError,
  runRebuild,
  switchRebuild,
  verifyReadModels,
  type ReadModel,
  type ReadModelVerdict,
  type ReadStoreLocation,
  type RebuildContext,
  type RebuildRecord,
  type VerifyOptions,
} from '@cem/read-models';
import { performOpsAction, type OpsActor } from './ops-actions';
import type { Platform } from './platform';

/**
 * The read-model commands of the CLI (`cem rebuild`, `cem verify`) and of the admin API, as one
 * function each: the same work and the same `ops.action-performed` record whichever front end ran it.
 */

/** The embedded read store must exist (opening it would create an empty one): the projector makes it. */
export function refuseMissingReadStore(location: ReadStoreLocation): void {
  if (location.kind === 'sqlite' && !existsSync(join(resolve(location.dataDir), READ_MODELS_FILE)))
    throw new Error(`no read store in ${location.dataDir} yet: start the projector (npm run projector, or the api) first`);
}

/** Opens the live read store and the rebuild context for one action; the registry lives in it. */
export async function withRebuildContext<T>(
  platform: Pick<Platform, 'store' | 'config'>,
  run: (ctx: RebuildContext) => Promise<T>,
  options: RebuildRunOptions = {},
): Promise<T> {
  const location = readStoreLocationOf(platform.config);
  refuseMissingReadStore(location);
  // not migrated here: a migration's read-then-write transaction fails at once (SQLITE_BUSY) while the
  // projector commits; the projector of this version creates the registry's table when it starts
  const live = await openReadStore(location, { role: 'reader', readModels: READ_MODELS, poolSize: 4 });
  try {
    return await run({ store: platform.store, location, live, dataDir: platform.config.DATA_DIR, ...options });
  } finally {
    await live.close();
  }
}

/** refusals are recorded as such, failures (a shadow that did not verify included) as failed */
const rebuildOutcomeOf = (e: unknown) => (e instanceof RebuildError && e.code !== 'verify-failed' ? 'refused' : 'failed');

const recorded = (r: RebuildRecord) => ({
  result: 'ok' as const,
  outcome: `${r.id} ${r.state}: ${r.message ?? ''}`,
  figures: { id: r.id, ...(r.checksums ?? {}) },
});

/** What a rebuild is told while it runs: its progress, its claim, when to stop. */
export type RebuildRunOptions = Pick<RebuildContext, 'onProgress' | 'batchSize' | 'onClaimed' | 'shouldStop'>;

/**
 * Runs the rebuild itself (rebuildAction records it): in this process by default (rebuildHere); the
 * admin API runs it in a worker thread of its own, off the event loop that answers requests.
 */
export type RebuildRunner = (
  models: readonly ReadModel[],
  switchWhenVerified: boolean,
  options: RebuildRunOptions,
) => Promise<RebuildRecord>;

/** The rebuild in this process, on `platform`'s store and a live read store opened for it. */
export const rebuildHere =
  (platform: Pick<Platform, 'store' | 'config'>): RebuildRunner =>
  (models, switchWhenVerified, options) =>
    withRebuildContext(platform, (ctx) => runRebuild(ctx, models, switchWhenVerified), options);

/** `cem rebuild <read models>` / POST /v1/admin/rebuilds: a blue/green rebuild, recorded as `rebuild`. */
export async function rebuildAction(
  platform: Pick<Platform, 'store' | 'config'>,
  actor: OpsActor,
  models: readonly ReadModel[],
  options: RebuildRunOptions & { switchWhenVerified: boolean; runner?: RebuildRunner },
): Promise<RebuildRecord> {
  const { switchWhenVerified, runner = rebuildHere(platform), ...context } = options;
  return performOpsAction(
    platform.store,
    { action: 'rebuild', actor, parameters: { readModels: models.map((m) => m.name).join(','), switch: switchWhenVerified } },
    async () => {
      const r = await runner(models, switchWhenVerified, context);
      return { ...r, ...recorded(r) };
    },
    rebuildOutcomeOf,
  );
}

/** `cem rebuild switch|drop [id]` / POST /v1/admin/rebuilds/{id}/switch|drop, recorded as `rebuild-switch` / `rebuild-drop`. */
export async function finishRebuildAction(
  platform: Pick<Platform, 'store' | 'config'>,
  actor: OpsActor,
  what: 'switch' | 'drop',
  id: string | undefined,
): Promise<RebuildRecord> {
  return performOpsAction(
    platform.store,
    { action: `rebuild-${what}`, actor, parameters: { id: id ?? null } },
    async () => {
      const r = await withRebuildContext(platform, (ctx) => (what === 'switch' ? switchRebuild(ctx, id) : dropRebuild(ctx, id)));
      return { ...r, ...recorded(r), figures: { id: r.id } };
    },
    rebuildOutcomeOf,
  );
}

/** What a verification is told while it runs. */
export interface VerifyRunOptions {
  onProgress?: VerifyOptions['onProgress'];
  /** events per batch of the scratch projection (default 5,000) */
  batchSize?: number;
}

/** Runs the verification itself (verifyReadModelsAction records it): in this process by default, in a worker thread in the API. */
export type VerifyRunner = (models: readonly ReadModel[], options: VerifyRunOptions) => Promise<ReadModelVerdict[]>;

/** The verification in this process, on `platform`'s store and a live read store opened for it. */
export const verifyHere =
  (platform: Pick<Platform, 'store' | 'config'>): VerifyRunner =>
  async (models, options) => {
    const location = readStoreLocationOf(platform.config);
    refuseMissingReadStore(location);
    const live = await openReadStore(location, { role: 'reader', readModels: READ_MODELS });
    try {
      return await verifyReadModels({
        store: platform.store,
        location,
        live,
        readModels: models,
        dataDir: platform.config.DATA_DIR,
        batchSize: options.batchSize,
        onProgress: options.onProgress,
      });
    } finally {
      await live.close();
    }
  };

/** `cem verify` / POST /v1/admin/read-models/verifications: each read model against a fresh rebuild, recorded as `verify`. */
export async function verifyReadModelsAction(
  platform: Pick<Platform, 'store' | 'config'>,
  actor: OpsActor,
  models: readonly ReadModel[],
  options: VerifyRunOptions & {
    parameters?: Record<string, string | number | boolean | null>;
    runner?: VerifyRunner;
  } = {},
): Promise<ReadModelVerdict[]> {
  // a missing read store is refused before anything is recorded
  refuseMissingReadStore(readStoreLocationOf(platform.config));
  const { parameters, runner = verifyHere(platform), ...run } = options;
  const done = await performOpsAction(
    platform.store,
    { action: 'verify', actor, parameters: { readModels: models.map((m) => m.name).join(','), ...parameters } },
    async () => {
      const found = await runner(models, run);
      const drifting = found.filter((v) => v.status === 'drift');
      return {
        verdicts: found,
        result: 'ok' as const,
        outcome:
          drifting.length === 0
            ? `${found.length} read model(s) match the log`
            : `drift in ${drifting.map((v) => `${v.readModel} (${v.driftCustomers.length} customers)`).join(', ')}`,
        figures: Object.fromEntries(found.map((v) => [v.readModel, `${v.status}@${v.position}:${v.rebuilt?.checksum ?? '-'}`])),
      };
    },
  );
  return done.verdicts;
}
