import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { provisionSqlRole } from '@cem/read-models';
import { cliConfig } from '../cli-config';

/** `cem sql-role create|grant`: read-only PostgreSQL roles for BI tools (docs/sql.md). */
export function registerSqlRoleCommands(program: Command): void {
  const roles = program
    .command('sql-role')
    .description('Read-only PostgreSQL roles for analysts and BI tools: SELECT on the cem_* views, nothing else (READ_STORE=postgres)');
  roles
    .command('create')
    .description('Create a login role that can read the views; prints its password once (or takes it from --password-env)')
    .requiredOption('--name <role>', 'role name: lower-case letters, digits and _, e.g. bi_reader')
    .option('--password-env <variable>', 'read the password from this environment variable instead of generating one (16+ characters)')
    .action(async (opts: { name: string; passwordEnv?: string }) => {
      const url = postgresUrl();
      let password: string;
      if (opts.passwordEnv !== undefined) {
        const value = process.env[opts.passwordEnv];
        if (!value) throw new Error(`--password-env: ${opts.passwordEnv} is not set`);
        password = value;
      } else {
        password = randomBytes(18).toString('base64url');
      }
      const done = await provisionSqlRole(url, { role: opts.name, password, mode: 'create' });
      const connect = new URL(url);
      connect.username = done.role;
      connect.password = '';
      console.log(JSON.stringify({ ...done, connect: connect.toString(), ...(opts.passwordEnv ? {} : { password }) }, null, 2));
      if (!opts.passwordEnv) console.error('Store the password now: it is not shown again.');
    });
  roles
    .command('grant')
    .description('Grant an existing role SELECT on every view of this version (after an upgrade added views)')
    .requiredOption('--name <role>', 'the role')
    .action(async (opts: { name: string }) => {
      console.log(JSON.stringify(await provisionSqlRole(postgresUrl(), { role: opts.name, mode: 'grant' }), null, 2));
    });
}

function postgresUrl(): string {
  const config = cliConfig();
  if (config.READ_STORE !== 'postgres' || !config.DATABASE_URL) {
    throw new Error('sql-role: needs the PostgreSQL read store (READ_STORE=postgres and DATABASE_URL)');
  }
  return config.DATABASE_URL;
}
