import type { Command } from 'commander';
import { cliImportId, formatSummary, importsDir, loadMappingFile, progressReporter, runImport } from '@cem/backfill';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { withPlatform } from '../with-platform';

interface ImportOptions {
  mapping: string;
  batchSize: string;
  restart?: boolean;
  progress: boolean;
}

/**
 * `cem import --mapping m.json file.csv`: backfill of a historical export. Exit codes: 0 all rows
 * imported or filtered, 2 done but some rows rejected (see the reject file), 1 mapping or file
 * refused (nothing imported), 130 interrupted (run the same command again to resume).
 */
export function registerImportCommand(program: Command): void {
  program
    .command('import <file>')
    .description('Import a CSV or NDJSON export through a declarative mapping (see docs/backfill.md); resumable and idempotent')
    .requiredOption('--mapping <path>', 'mapping file (JSON), e.g. seeds/mappings/cdnow-purchases.json')
    .option('--batch-size <events>', 'events per append', '5000')
    .option('--restart', 'ignore the checkpoint of an interrupted run and start from the first row')
    .option('--no-progress', 'no progress output')
    .action(async (file: string, opts: ImportOptions) => {
      if (!existsSync(file)) throw new Error(`no such file: ${file}`);
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
        throw new Error('--batch-size must be a whole number from 1 to 100000');
      const mapping = loadMappingFile(opts.mapping);

      const abort = new AbortController();
      const onSigint = () => {
        if (abort.signal.aborted) process.exit(130);
        process.stderr.write('\nstopping after the current batch (Ctrl-C again to stop at once; the checkpoint keeps what was done)\n');
        abort.abort();
      };
      process.on('SIGINT', onSigint);
      const bar = opts.progress ? progressReporter(process.stderr) : undefined;
      try {
        const summary = await withPlatform((platform) => {
          const stateDir = join(importsDir(platform.config.DATA_DIR), cliImportId(mapping, file));
          return runImport({
            file,
            mapping,
            ingestion: platform.ingestion,
            stateDir,
            batchSize,
            restart: opts.restart,
            signal: abort.signal,
            onProgress: (p) => bar?.update(p),
          });
        });
        bar?.done(summary);
        console.log(formatSummary(summary));
        if (summary.status === 'interrupted') {
          console.log('interrupted: run the same command again to resume from the checkpoint');
          process.exitCode = 130;
        } else if (summary.rowsRejected > 0) process.exitCode = 2;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
