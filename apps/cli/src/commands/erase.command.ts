import type { Command } from 'commander';
import { cliActor, eraseCustomerAction } from '@cem/platform';
import { withPlatform } from '../with-platform';

/**
 * `cem erase <customerId> --reason <text>` (docs/privacy.md): crypto-shreds the customer's personal
 * data and prints the erasure certificate as JSON. A refusal (unknown, merged-away or already-erased
 * customer, missing reason, encryption off) prints its reason and exits 1 with nothing changed.
 * Every run is also recorded as an ops action (customer id, result; never personal data).
 */
export function registerEraseCommand(program: Command): void {
  program
    .command('erase <customerId>')
    .description("Erase a customer's personal data (destroys its data keys; the log stays verifiable) and print the erasure certificate")
    .option('--reason <text>', 'why, e.g. the request reference (required; no personal data)')
    .option('--actor <name>', 'who asked for it (default: the OS user)')
    .action(async (customerId: string, opts: { reason?: string; actor?: string }) => {
      const certificate = await withPlatform((platform) =>
        eraseCustomerAction(platform, { customerId, reason: opts.reason, actor: cliActor(opts.actor) }),
      );
      process.stdout.write(`${JSON.stringify(certificate, null, 2)}\n`);
    });
}
