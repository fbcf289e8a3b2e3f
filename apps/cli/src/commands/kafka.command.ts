import type { Command } from 'commander';
import { createLogger, kafkaIngestConfig, type AppConfig } from '@cem/config';
import { createKafka, DEAD_LETTER_REASONS, parseDeadLetterReasons, redriveDeadLetters, type RedriveResult } from '@cem/kafka';
import { cliConfig } from '../cli-config';

export interface RedriveCommandOptions {
  max?: number;
  reason?: string;
  target?: string;
  group?: string;
  dryRun?: boolean;
}

/**
 * `cem kafka redrive`: republishes dead-lettered touch-point messages (KAFKA_DLQ_TOPIC) to their
 * source topic after a fix, each record once (redriveDeadLetters in @cem/kafka). Prints one JSON
 * line per record examined and a summary line on stdout; logs go to stderr.
 */
export function registerKafkaCommands(program: Command): void {
  const kafka = program.command('kafka').description('Kafka ingestion operations');
  kafka
    .command('redrive')
    .description('Re-drive dead-lettered messages (KAFKA_DLQ_TOPIC) to their source topic; each record once')
    .option('--max <n>', 'at most this many records', (v) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error('--max must be a positive integer');
      return Number(v);
    })
    .option('--reason <list>', `only these reasons, comma separated (${DEAD_LETTER_REASONS.join(', ')}); others are passed over`)
    .option('--target <topic>', "republish to this topic instead of each record's source topic")
    .option('--group <id>', 'redrive consumer group (default <dlq topic>.redrive)')
    .option('--dry-run', 'list what would be re-driven; publish and commit nothing')
    .action(async (opts: RedriveCommandOptions) => {
      const summary = await runRedrive(opts, cliConfig());
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}

export async function runRedrive(opts: RedriveCommandOptions, app: AppConfig): Promise<RedriveResult> {
  const reasons = opts.reason === undefined ? undefined : parseDeadLetterReasons(opts.reason);
  const config = kafkaIngestConfig(app);
  const logger = createLogger({ level: app.LOG_LEVEL, component: 'kafka-redrive', stream: 'stderr' });
  return redriveDeadLetters({
    kafka: createKafka(config, logger),
    dlqTopic: config.dlqTopic,
    targetTopic: opts.target,
    groupId: opts.group,
    maxMessages: opts.max,
    reasons,
    dryRun: opts.dryRun,
    logger,
    onRecord: (r, action) =>
      process.stdout.write(
        `${JSON.stringify({ action, dlq: `${r.dlqPartition}/${r.dlqOffset}`, source: r.source, failedAt: r.failedAt, reason: r.error.reason, error: r.error.message })}\n`,
      ),
  });
}
