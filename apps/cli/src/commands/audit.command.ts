import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { cliActor, performOpsAction } from '@cem/platform';
import type { Command } from 'commander';
import type { EventStore } from '@cem/event-store';
import { auditReportHtml, auditReportMarkdown, auditTrailOf, readCustomerLog, type AuditTrail } from '@cem/read-models/audit';
import { withPlatform } from '../with-platform';

export const AUDIT_FORMATS = ['json', 'md', 'html'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

/** A refusal of a CLI command: its message is the one line printed, the exit code 1. */
export class CliInputError extends Error {}

export function parseAuditFormat(text: string): AuditFormat {
  if (!(AUDIT_FORMATS as readonly string[]).includes(text))
    throw new CliInputError(`--format "${text}": expected one of ${AUDIT_FORMATS.join(', ')}`);
  return text as AuditFormat;
}

/**
 * The whole audit trail of a customer (a merged-away id is followed to its live survivor, said on
 * stderr). The CLI writes the whole trail at once: it holds one customer's events in memory.
 */
export async function customerAuditTrail(store: EventStore, customerId: string, now = Date.now()): Promise<AuditTrail> {
  let log = await readCustomerLog(store, customerId);
  if (log.kind === 'merged') {
    process.stderr.write(`audit: customer ${customerId} was merged into ${log.survivorId}: auditing ${log.survivorId}\n`);
    log = await readCustomerLog(store, log.survivorId);
  }
  if (log.kind !== 'found') throw new CliInputError(`customer ${customerId}: no such customer in the log`);
  return auditTrailOf(log, { generatedAt: now, headPosition: await store.headPosition() });
}

export function renderAuditTrail(trail: AuditTrail, format: AuditFormat): string {
  if (format === 'md') return auditReportMarkdown(trail);
  if (format === 'html') return auditReportHtml(trail);
  return `${JSON.stringify(trail, null, 2)}\n`;
}

/** `cem audit customer <id>` (docs/operations.md, "Audit trail"). Exit 1 with the reason for an unknown customer or a bad option. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('Audit trails read from the log (see docs/operations.md)');
  audit
    .command('customer <customerId>')
    .description('Every event of a customer and of the customers merged into it, in recorded order, system events included')
    .option('--format <format>', 'json (everything as stored), md or html (a report without personal data)', 'json')
    .option('--out <file>', 'write to this file (owner-only) instead of stdout')
    .option('--actor <name>', 'who runs it, for the ops record (default: the OS user)')
    .action(async (customerId: string, opts: { format: string; out?: string; actor?: string }) => {
      const format = parseAuditFormat(opts.format);
      // who read whose trail is itself audited, as for GET /v1/audit/customers/{id} (the file name without its directory)
      const parameters = { customerId, format, out: opts.out === undefined ? null : basename(opts.out) };
      const text = await withPlatform((p) =>
        performOpsAction(
          p.store,
          { action: 'audit-customer', actor: cliActor(opts.actor), parameters },
          async () => {
            const trail = await customerAuditTrail(p.store, customerId);
            const via = trail.customerId === customerId ? '' : ` (followed from ${customerId})`;
            return {
              text: renderAuditTrail(trail, format),
              result: 'ok' as const,
              outcome: `served ${trail.events.length} of ${trail.total} events of ${trail.customerId}${via}`,
              figures: { events: trail.events.length, headPosition: trail.headPosition },
            };
          },
          (e) => (e instanceof CliInputError ? 'refused' : 'failed'),
        ).then((r) => r.text),
      );
      if (opts.out === undefined) process.stdout.write(text);
      else {
        writeFileSync(opts.out, text, { mode: 0o600 });
        process.stderr.write(`audit: wrote ${opts.out}\n`);
      }
    });
}
