import type { Command } from 'commander';
import { cliActor, finishRebuildAction, rebuildAction, withRebuildContext } from '@cem/platform';
import { listRebuilds, type RebuildRecord } from '@cem/read-models';
import { logProgress } from '../progress-line';
import { withPlatform } from '../with-platform';
import { selectReadModels } from './verify.command';

interface RebuildOptions {
  switch: boolean;
  batchSize?: string;
  json?: boolean;
  actor?: string;
  progress: boolean;
}

export function formatRebuild(r: RebuildRecord): string {
  const pct = r.targetPosition > 0 ? ` ${((Math.min(r.position, r.targetPosition) / r.targetPosition) * 100).toFixed(1)}%` : '';
  return [
    `${r.id}  ${r.readModels.join(',')}  ${r.state} (${r.phase})${pct}  position ${r.position} of ${r.targetPosition}`,
    `  started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt}` : `, heartbeat ${r.heartbeatAt} by ${r.owner}`}`,
    ...(r.message ? [`  ${r.message}`] : []),
  ].join('\n');
}

export function registerRebuildCommand(program: Command): void {
  program
    .command('rebuild <what> [more...]')
    .description(
      'Blue/green rebuild: `rebuild <read model...|all>` projects a shadow copy from position 0 while the live copy serves, ' +
        'catches it up, verifies it and switches; `rebuild status`, `rebuild switch [id]` (after --no-switch), `rebuild drop [id]` (the kept old copy)',
    )
    .option('--no-switch', 'stop once the shadow is verified (switch later with `cem rebuild switch`)')
    .option('--batch-size <events>', 'events per batch of the shadow projection (a transaction commits every 20 batches)', '5000')
    .option('--json', 'status: print the rebuilds as JSON')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (what: string, more: string[], opts: RebuildOptions) => {
      if (what === 'status') return status(opts);
      if (what === 'switch' || what === 'drop') {
        if (more.length > 1) throw new Error(`rebuild ${what}: at most one rebuild id, got ${more.join(' ')}`);
        return finish(what, more[0], opts);
      }
      const models = selectReadModels([what, ...more]);
      const batchSize = Number(opts.batchSize);
      if (!/^[0-9]+$/.test(opts.batchSize ?? '') || batchSize < 1 || batchSize > 100_000)
        throw new Error(`--batch-size: expected a whole number from 1 to 100000, got "${opts.batchSize}"`);
      await withPlatform(async (platform) => {
        const bar = opts.progress ? logProgress(process.stderr, 'rebuild') : undefined;
        const started = Date.now();
        const record = await rebuildAction(platform, cliActor(opts.actor), models, {
          switchWhenVerified: opts.switch,
          batchSize,
          onProgress: (p) =>
            bar?.update({
              events: p.events,
              elapsedMs: Date.now() - started,
              fraction: rebuildFraction(p),
              note: p.phase,
            }),
        }).finally(() => bar?.done());
        console.log(formatRebuild(record));
      });
    });
}

/**
 * The share of a rebuild's projection done. Not position / target: the position is the slowest read
 * model's, and the read models are projected one after another, so it stayed at 0% until the last one
 * started. The record's events (done, summed over the read models) and its ETA at its rate give the
 * work still owed.
 */
export function rebuildFraction(
  p: Pick<RebuildRecord, 'events' | 'eventsPerSecond' | 'etaSeconds' | 'position' | 'targetPosition'>,
): number {
  if (p.etaSeconds !== null && p.eventsPerSecond > 0) {
    const owed = p.etaSeconds * p.eventsPerSecond;
    return p.events + owed > 0 ? p.events / (p.events + owed) : 1;
  }
  return p.targetPosition > 0 ? Math.min(p.position, p.targetPosition) / p.targetPosition : 1;
}

async function status(opts: RebuildOptions): Promise<void> {
  await withPlatform((platform) =>
    withRebuildContext(platform, async (ctx) => {
      const all = await listRebuilds(ctx.live.db);
      if (opts.json) console.log(JSON.stringify(all, null, 2));
      else if (all.length === 0) console.log('no rebuilds');
      else for (const r of all) console.log(formatRebuild(r));
    }),
  );
}

async function finish(what: 'switch' | 'drop', id: string | undefined, opts: RebuildOptions): Promise<void> {
  await withPlatform(async (platform) => {
    const record = await finishRebuildAction(platform, cliActor(opts.actor), what, id);
    console.log(formatRebuild(record));
  });
}
