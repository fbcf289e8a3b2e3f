import 'reflect-metadata';
import { Command } from 'commander';
import { registerKafkaCommands } from '../../kafka-ingest/src/redrive.command';
import { registerApiKeyCommands } from './commands/api-key.command';
import { registerImportCommand } from './commands/import.command';

/**
 * Ops command line: one sub-command per capability (api keys, import, replay, rebuild, audit, ...).
 * Each command module registers itself here.
 */
const program = new Command()
  .name('cem')
  .description('Operate the CEM platform. Configuration comes from the same environment variables as the API (see README).')
  .showHelpAfterError();

registerApiKeyCommands(program);
registerKafkaCommands(program);
registerImportCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
