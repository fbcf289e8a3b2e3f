import type { Command } from 'commander';
import { parseIsoInstant } from '@cem/domain';
import type { EventStore } from '@cem/event-store';
import { AS_OF_BASES, customerAsOfFromLog, type AsOfBasis, type CustomerAsOf } from '@cem/read-models';
import { withPlatform } from '../with-platform';
import { CliInputError } from './audit.command';

/** `--at`: an ISO-8601 instant with an offset, not in the future (the clock recordedAt comes from). */
export function parseAsOfInstant(text: string, now = Date.now()): number {
  const at = parseIsoInstant(text);
  if (at === undefined) throw new CliInputError(`--at "${text}": expected an ISO-8601 instant with an offset, e.g. 2026-11-20T09:15:00Z`);
  if (at > now) throw new CliInputError(`--at "${text}": is in the future`);
  return at;
}

export function parseAsOfBasis(text: string): AsOfBasis {
  if (!(AS_OF_BASES as readonly string[]).includes(text)) throw new CliInputError(`--by "${text}": expected occurred or recorded`);
  return text as AsOfBasis;
}

/** The as-of view of a customer from the log; a merged-away id (at that instant) is followed to its survivor, said on stderr. */
export async function customerAsOf(store: EventStore, customerId: string, at: number, by: AsOfBasis): Promise<CustomerAsOf> {
  let found = await customerAsOfFromLog(store, customerId, at, by);
  if (found.kind === 'merged') {
    process.stderr.write(`customer ${customerId} was merged into ${found.survivorId} by then: showing ${found.survivorId}\n`);
    found = await customerAsOfFromLog(store, found.survivorId, at, by);
  }
  if (found.kind !== 'found')
    throw new CliInputError(`customer ${customerId}: no such customer, or none of its events ${by} by ${new Date(at).toISOString()}`);
  return { view: found.view, churnRisk: found.churnRisk, segments: found.segments };
}

/** `cem customer as-of <id>` (docs/operations.md, "As-of views"). Exit 1 with the reason for a bad option or an unknown customer. */
export function registerCustomerCommands(program: Command): void {
  const customer = program.command('customer').description('Customer views computed from the log (see docs/operations.md)');
  customer
    .command('as-of <customerId>')
    .description(
      'The customer 360 as it was at a past instant, computed from the log with the projection code (the read models are not read)',
    )
    .requiredOption('--at <instant>', 'the instant, ISO-8601 with an offset, e.g. 2026-11-20T09:15:00Z')
    .option('--by <basis>', 'occurred: every event that happened by then; recorded: what the platform had recorded by then', 'occurred')
    .action(async (customerId: string, opts: { at: string; by: string }) => {
      const at = parseAsOfInstant(opts.at);
      const by = parseAsOfBasis(opts.by);
      const { view, churnRisk } = await withPlatform((p) => customerAsOf(p.store, customerId, at, by));
      // the churn risk in full (every factor), where the API answer keeps the top three
      process.stdout.write(`${JSON.stringify({ by, ...view, churnRisk }, null, 2)}\n`);
    });
}
