import 'reflect-metadata';
import { Command } from 'commander';
import { cliConfig } from './cli-config';
import { registerApiKeyCommands } from './commands/api-key.command';
import { registerAuditCommands } from './commands/audit.command';
import { registerChurnCommands } from './commands/churn.command';
import { registerCustomerCommands } from './commands/customer.command';
import { registerEncryptExistingCommand } from './commands/encrypt-existing.command';
import { registerEraseCommand } from './commands/erase.command';
import { registerExportSubjectCommand } from './commands/export-subject.command';
import { registerUnmergeCommand } from './commands/unmerge.command';
import { registerImportCommand } from './commands/import.command';
import { registerKafkaCommands } from './commands/kafka.command';
import { registerLogCommands } from './commands/log.command';
import { registerRebuildCommand } from './commands/rebuild.command';
import { registerSegmentCommands } from './commands/segment.command';
import { registerSqlRoleCommands } from './commands/sql-role.command';
import { registerVerifyCommand } from './commands/verify.command';

/**
 * Ops command line: one sub-command per capability (api keys, import, Kafka redrive, ...). Each
 * command module registers itself here. The configuration is validated before any command runs.
 */
const program = new Command()
  .name('cem')
  .description('Operate the CEM platform. Configuration comes from the same environment variables as the API (see README).')
  .showHelpAfterError()
  .hook('preAction', () => void cliConfig());

registerApiKeyCommands(program);
registerKafkaCommands(program);
registerImportCommand(program);
registerSqlRoleCommands(program);
registerChurnCommands(program);
registerAuditCommands(program);
registerCustomerCommands(program);
registerLogCommands(program);
registerVerifyCommand(program);
registerRebuildCommand(program);
registerSegmentCommands(program);
registerEraseCommand(program);
registerEncryptExistingCommand(program);
registerExportSubjectCommand(program);
registerUnmergeCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
