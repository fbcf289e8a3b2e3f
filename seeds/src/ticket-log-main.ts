import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_TICKET_SEED, writeTicketLog } from './ticket-log';

/**
 * `npm run seed:ticket-log -- --tickets N --out ticket-log.csv [--seed S] [--customers C] [--from YYYY-MM-DD] [--until YYYY-MM-DD]`
 *
 * Writes a help-desk ticket activity log (one row per step) for seeds/mappings/helpdesk-ticket-log.json.
 */

const int = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};
const real = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number from 0 to 1`);
  return n;
};

interface CliOptions {
  tickets: number;
  out: string;
  seed: string;
  customers?: number;
  from: string;
  until: string;
  truncatedStartRate: number;
  repeatRate: number;
}

const program = new Command()
  .name('seed:ticket-log')
  .description('Write a deterministic help-desk ticket activity log (CSV, one row per step): same options, byte-identical file.')
  .requiredOption('--tickets <n>', 'how many tickets (cases)', int('--tickets', 1, 10_000_000))
  .requiredOption('--out <file>', 'the CSV file to write')
  .option('--seed <s>', 'PRNG seed', DEFAULT_TICKET_SEED)
  .option('--customers <n>', 'distinct customers (default: tickets / 8)', int('--customers', 1, 10_000_000))
  .option('--from <date>', 'first day of the export window (local date)', '2024-01-01')
  .option('--until <date>', 'end of the export window (local date, exclusive): later steps are cut', '2025-07-01')
  .option('--truncated-start-rate <r>', 'share of tickets whose log starts after the insertion', real('--truncated-start-rate'), 0.06)
  .option('--repeat-rate <r>', 'chance that a row is exported twice', real('--repeat-rate'), 0.01)
  .showHelpAfterError();

async function main(): Promise<void> {
  const o = program.parse(process.argv).opts<CliOptions>();
  const started = Date.now();
  const { rows } = await writeTicketLog(o.out, o);
  console.log(
    `${o.out}: ${rows.toLocaleString('en')} rows for ${o.tickets.toLocaleString('en')} tickets in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
