import type { Command } from 'commander';
import { cliActor, encryptExistingAction } from '@cem/platform';
import { withPlatform } from '../with-platform';

/**
 * `cem encrypt-existing` (docs/privacy.md): seals the plaintext personal data of events written before
 * encryption was switched on, on the embedded store, and re-chains the log. Progress on stderr, the
 * report as JSON on stdout; resumable after an interruption (run it again). Refused on EventStoreDB
 * and without encryption (exit 1, nothing changed). Every run is an ops action.
 */
export function registerEncryptExistingCommand(program: Command): void {
  program
    .command('encrypt-existing')
    .description('Encrypt the personal data of events written before encryption was switched on (embedded store), then re-chain the log')
    .option('--actor <name>', 'who runs it (default: the OS user)')
    .action(async (opts: { actor?: string }) => {
      let lastPrinted = 0;
      const report = await withPlatform((platform) =>
        encryptExistingAction(platform, {
          actor: cliActor(opts.actor),
          onProgress: (p) => {
            const now = Date.now();
            if (now - lastPrinted < 1000 && p.position < p.until) return;
            lastPrinted = now;
            process.stderr.write(`${p.phase}: position ${p.position} of ${p.until}, ${p.rewritten} events re-written\n`);
          },
        }),
      );
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });
}
