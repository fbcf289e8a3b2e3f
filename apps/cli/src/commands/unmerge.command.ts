import type { Command } from 'commander';
import { cliActor, performOpsAction, unmergeCustomer, UnmergeRefusedError } from '@cem/platform';
import { withPlatform } from '../with-platform';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * `cem unmerge <survivorId> --split <mergedAwayId> [--identifiers kind:value,...] --reason <text>`
 * (docs/identity.md, "Unmerge"): splits merged-away customers off the survivor, prints what was
 * recorded as JSON (no identifier values). A refusal (unknown or merged-away customer, a customer
 * never merged into it, a merge already undone, identifiers not brought to the merge, a missing
 * reason) prints its reason and exits 1 with nothing changed. Recorded as an ops action.
 */
export function registerUnmergeCommand(program: Command): void {
  program
    .command('unmerge <survivorId>')
    .description('Undo a merge: split merged-away customers off the survivor, with the identifiers they brought (or those named)')
    .option('--split <customerId>', 'a merged-away customer to split off (repeat for several)', collect)
    .option('--identifiers <kind:value,...>', 'the identifiers the split customer takes back (one --split only; default: all it brought)')
    .option('--reason <text>', 'why, e.g. a case reference (required; no personal data)')
    .option('--actor <name>', 'who asked for it (default: the OS user)')
    .action(async (survivorId: string, opts: { split?: string[]; identifiers?: string; reason?: string; actor?: string }) => {
      const splitIds = opts.split ?? [];
      if (opts.identifiers !== undefined && splitIds.length !== 1)
        throw new UnmergeRefusedError('identifiers', 'invalid', '--identifiers: give exactly one --split with it');
      const identifiers = opts.identifiers
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const result = await withPlatform((platform) =>
        performOpsAction(
          platform.store,
          { action: 'unmerge', actor: cliActor(opts.actor), parameters: { customerId: survivorId, split: splitIds.join(',') } },
          async () => {
            const r = await unmergeCustomer(platform, {
              customerId: survivorId,
              splits: splitIds.map((customerId) => ({ customerId, identifiers })),
              reason: opts.reason,
              requestedBy: cliActor(opts.actor),
            });
            return {
              result: 'ok' as const,
              outcome: `split ${r.unmerged.length} customer(s) off ${r.survivorId}`,
              figures: { position: r.unmerged[r.unmerged.length - 1]?.position ?? 0 },
              r,
            };
          },
          (e) => (e instanceof UnmergeRefusedError ? 'refused' : 'failed'),
        ),
      );
      process.stdout.write(`${JSON.stringify(result.r, null, 2)}\n`);
    });
}
