import type { Command } from 'commander';
import { loadKafkaIngestConfig } from './config';
import type { DeadLetterReason } from './dead-letter';
import { createKafka } from './kafka-client';
import { jsonLogger } from './logger';
import { redriveDeadLetters } from './redrive';

const REASONS: DeadLetterReason[] = ['malformed', 'oversized', 'validation', 'processing'];

/**
 * `cem kafka redrive`: republishes dead-lettered touch-point messages to their source topic after a
 * fix. Register in the ops CLI with `registerKafkaCommands(program)`.
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
    .option('--reason <list>', `only these reasons, comma separated (${REASONS.join(', ')}); others are passed over`)
    .option('--target <topic>', 'republish to this topic instead of each record\'s source topic')
    .option('--group <id>', 'redrive consumer group (default <dlq topic>.redrive)')
    .option('--dry-run', 'list what would be re-driven; publish and commit nothing')
    .action(async (opts: { max?: number; reason?: string; target?: string; group?: string; dryRun?: boolean }) => {
      const summary = await runRedrive(opts);
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}

export async function runRedrive(opts: { max?: number; reason?: string; target?: string; group?: string; dryRun?: boolean }, env = process.env) {
  const config = loadKafkaIngestConfig(env);
  const reasons = opts.reason?.split(',').map((r) => r.trim()) as DeadLetterReason[] | undefined;
  const bad = reasons?.filter((r) => !REASONS.includes(r));
  if (bad?.length) throw new Error(`--reason: unknown ${bad.join(', ')} (known: ${REASONS.join(', ')})`);
  const logger = jsonLogger(config.logLevel, 'kafka-redrive');
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
