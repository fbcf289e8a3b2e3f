import type { Command } from 'commander';
import { cliActor, eraseCustomer, performOpsAction, ErasureRefusedError } from '@cem/platform';
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
        performOpsAction(
          platform.store,
          { action: 'erase', actor: cliActor(opts.actor), parameters: { customerId } },
          async () => {
            const c = await eraseCustomer(platform, { customerId, reason: opts.reason, requestedBy: cliActor(opts.actor) });
            return {
              result: 'ok' as const,
              outcome: `erased ${c.erasedCustomerIds.length} customer id(s)`,
              figures: { position: c.position },
              c,
            };
          },
          (e) => (e instanceof ErasureRefusedError ? 'refused' : 'failed'),
        ),
      );
      process.stdout.write(`${JSON.stringify(certificate.c, null, 2)}\n`);
    });
}
