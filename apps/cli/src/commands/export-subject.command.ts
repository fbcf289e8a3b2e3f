import type { Command } from 'commander';
import { cliActor, exportSubjectAction, type SubjectExportRequest } from '@cem/platform';
import { withPlatform } from '../with-platform';

/**
 * `cem export-subject --identifier <kind:value> | --customer <id>` (docs/privacy.md, "Data-subject
 * export"): everything held on one person as one JSON document on stdout. A refusal (neither or both
 * options, a malformed identifier, nobody found) prints its reason and exits 1. Every run is recorded
 * as an ops action (the customer id found; never the identifier).
 */
export function registerExportSubjectCommand(program: Command): void {
  program
    .command('export-subject')
    .description('Export everything held on one person (found by any identifier or a customer id) as one JSON document')
    .option('--identifier <kind:value>', 'any identifier of the person, e.g. email:ana@example.com (merges are followed)')
    .option('--customer <customerId>', 'a customer id (a merged-away id leads to its survivor)')
    .option('--actor <name>', 'who asked for it (default: the OS user)')
    .action(async (opts: { identifier?: string; customer?: string; actor?: string }) => {
      // neither or both: refused (and recorded) by the export itself
      const request = { identifier: opts.identifier, customerId: opts.customer } as SubjectExportRequest;
      const document = await withPlatform((platform) => exportSubjectAction(platform, { ...request, actor: cliActor(opts.actor) }));
      process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    });
}
