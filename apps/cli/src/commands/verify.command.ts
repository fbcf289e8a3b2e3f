import type { Command } from 'commander';
import { cliActor, verifyReadModelsAction } from '@cem/platform';
import { READ_MODELS, type ReadModel, type ReadModelVerdict } from '@cem/read-models';
import { logProgress } from '../progress-line';
import { withPlatform } from '../with-platform';

/** Exit code of `cem verify` when a read model does not match the log (1 stays "the command could not run"). */
export const EXIT_DRIFT = 3;

/** Most drifting customers printed per read model (--json lists them all). */
const SHOWN_CUSTOMERS = 20;

/** The read models a command names (none: all); an unknown name is refused, listing the known ones. */
export function selectReadModels(names: readonly string[] | undefined): ReadModel[] {
  if (!names || names.length === 0 || (names.length === 1 && names[0] === 'all')) return [...READ_MODELS];
  const known = READ_MODELS.map((m) => m.name);
  const unknown = names.filter((n) => !known.includes(n as never));
  if (unknown.length > 0) throw new Error(`unknown read model ${unknown.join(', ')} (known: ${known.join(', ')}, or all)`);
  return READ_MODELS.filter((m) => names.includes(m.name));
}

const short = (hash: string | undefined) => (hash ? hash.slice(0, 16) : '-');

export function formatVerdict(v: ReadModelVerdict): string[] {
  if (v.status === 'not-projected') return [`${v.readModel}: not projected yet (no checkpoint in the live copy): nothing to compare`];
  const rows = v.live!.tables.map((t) => t.rows).reduce((a, b) => a + b, 0);
  const lines = [
    `${v.readModel}: ${v.status === 'equal' ? 'equal' : 'DRIFT'} at position ${v.position}  live ${short(v.live?.checksum)}  rebuilt ${short(v.rebuilt?.checksum)}  (${rows} rows)`,
  ];
  if (v.liveVersion !== v.codeVersion)
    lines.push(`  live copy projected by version ${v.liveVersion}, this code is version ${v.codeVersion}: rebuild needed`);
  if (v.status === 'drift') {
    for (const t of v.driftTables) {
      const live = v.live!.tables.find((x) => x.table === t)!;
      const rebuilt = v.rebuilt!.tables.find((x) => x.table === t)!;
      lines.push(`  table ${t}: live ${live.rows} rows ${short(live.checksum)}, rebuilt ${rebuilt.rows} rows ${short(rebuilt.checksum)}`);
    }
    if (v.driftCustomers.length > 0) {
      const shown = v.driftCustomers.slice(0, SHOWN_CUSTOMERS).join(', ');
      const more =
        v.driftCustomers.length > SHOWN_CUSTOMERS ? ` and ${v.driftCustomers.length - SHOWN_CUSTOMERS} more (--json lists all)` : '';
      lines.push(`  ${v.driftCustomers.length} customer(s) differ: ${shown}${more}`);
    }
  }
  return lines;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify [readModels...]')
    .description(
      `Rebuild read models (default: all) from the log into a scratch copy and compare checksums with the live copy; exit 0 when equal, ${EXIT_DRIFT} on drift`,
    )
    .option('--json', 'print the verdicts as JSON (every drifting customer)')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .option('--no-progress', 'no progress output')
    .action(async (names: string[], opts: { json?: boolean; actor?: string; progress: boolean }) => {
      const models = selectReadModels(names);
      await withPlatform(async (platform) => {
        let started = Date.now();
        let bar: ReturnType<typeof logProgress> | undefined;
        let barOf = '';
        const verdicts = await verifyReadModelsAction(platform, cliActor(opts.actor), models, {
          onProgress: (p) => {
            if (!opts.progress || p.phase !== 'rebuild') return;
            if (barOf !== p.readModel) {
              bar?.done();
              bar = logProgress(process.stderr, `verify ${p.readModel}`);
              barOf = p.readModel;
              started = Date.now();
            }
            bar!.update({ events: p.events, elapsedMs: Date.now() - started, fraction: p.to > 0 ? p.position / p.to : 1 });
          },
        }).finally(() => bar?.done());
        if (opts.json) console.log(JSON.stringify(verdicts, null, 2));
        else for (const v of verdicts) for (const line of formatVerdict(v)) console.log(line);
        if (verdicts.some((v) => v.status === 'drift')) process.exitCode = EXIT_DRIFT;
      });
    });
}
