import type { Command } from 'commander';
import { parseRoles } from '@cem/platform';
import { withPlatform } from '../with-platform';

export function registerApiKeyCommands(program: Command): void {
  const keys = program.command('api-key').description('Manage API keys (stored hashed; a secret is shown once)');
  keys
    .command('create')
    .description('Create a key; prints the secret once')
    .requiredOption('--name <name>', 'who or what uses the key, e.g. "genesys integration"')
    .requiredOption('--role <roles>', 'ingest, analyst, ops, or several joined by +, e.g. analyst+ops')
    .action(async (opts: { name: string; role: string }) => {
      const roles = parseRoles(opts.role);
      await withPlatform(({ apiKeys }) => {
        const { keyId, key } = apiKeys.create(opts.name, roles);
        console.log(JSON.stringify({ keyId, name: opts.name, roles, key }, null, 2));
        console.error('Store the key now: only its hash is kept.');
      });
    });
  keys
    .command('list')
    .description('List keys (never the secrets)')
    .action(() => withPlatform(({ apiKeys }) => console.table(apiKeys.list())));
  keys
    .command('revoke <keyId>')
    .description('Revoke a key at once')
    .action((keyId: string) =>
      withPlatform(({ apiKeys }) => {
        if (!apiKeys.revoke(keyId)) throw new Error(`no active key ${keyId}`);
        console.log(`revoked ${keyId}`);
      }),
    );
}
