import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Rng, hashString } from './prng';

/**
 * A help-desk ticket activity log as a ticketing system exports it: one row per step of a ticket,
 * `;`-separated, local wall-clock times (`DD/MM/YYYY HH:mm:ss` in Europe/Rome, no offset in the
 * cell), rows grouped by ticket in time order. What real exports have and a mapping must survive:
 *
 * - every step kind: `Insert ticket`, `Assign seriousness`, `Take in charge ticket`, `Wait`,
 *   `Resolve ticket`, `Closed`, `Reopen ticket`; waits repeat, resolved tickets are reopened
 *   (sometimes twice), some tickets are closed without a resolution (duplicates, invalid);
 * - tickets whose first row is not `Insert ticket` (opened before the export window: the log starts
 *   at a later step);
 * - exact repeated rows (a join in the exporting system doubling a step);
 * - customers named like `Value 22` (blanks: not a valid external id as is), agents `Resource 7`;
 * - attributes carried forward like real exports: `seriousness` and `team` are empty until the
 *   seriousness is assigned, `agent` until someone takes the ticket in charge;
 * - tickets still open at the end of the export (steps after `--until` are cut).
 *
 * Deterministic: each ticket has its own PRNG stream (seed, ticket index) and no wall clock is
 * read, so the same options give a byte-identical file. Times are office
 * hours (08:00-19:00, Monday to Friday), so no wall time falls in a daylight-saving gap or repeat.
 */

export const TICKET_LOG_COLUMNS = ['ticket_id', 'step', 'timestamp', 'customer', 'seriousness', 'team', 'agent', 'status_note'] as const;
export const TICKET_LOG_HEADER = TICKET_LOG_COLUMNS.join(';');
/** the time zone of the wall times in `timestamp` (what the mapping must state) */
export const TICKET_LOG_TIME_ZONE = 'Europe/Rome';

export const TICKET_STEPS = {
  inserted: 'Insert ticket',
  seriousness: 'Assign seriousness',
  inCharge: 'Take in charge ticket',
  waiting: 'Wait',
  resolved: 'Resolve ticket',
  closed: 'Closed',
  reopened: 'Reopen ticket',
} as const;

export interface TicketLogOptions {
  /** how many tickets (cases) */
  tickets: number;
  seed?: string;
  /** distinct customers (`Value 1` ... `Value N`), default about one per 8 tickets */
  customers?: number;
  /** first day of the export window (local date, YYYY-MM-DD), default 2024-01-01 */
  from?: string;
  /** end of the export window (local date, exclusive), default 2025-07-01: later steps are cut */
  until?: string;
  /** share of tickets whose log starts after the insertion, default 0.06 */
  truncatedStartRate?: number;
  /** chance that a row is exported twice, default 0.01 */
  repeatRate?: number;
}

export const DEFAULT_TICKET_SEED = 'tickets';

const SERIOUSNESS = ['minor', 'normal', 'major', 'critical'] as const;
const TEAMS = ['Section A', 'Section B', 'Section C', 'Section D', '2nd line', 'Field service'] as const;
const WAIT_NOTES = ['waiting for customer', 'waiting for third party', 'on hold', ''] as const;
const CLOSE_NOTES = ['auto-closed after resolution', 'confirmed by customer', 'duplicate', 'invalid'] as const;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** wall-clock instants are kept as if they were UTC milliseconds: formatting reads them back as such */
function wallMs(date: string): number {
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`not a date (YYYY-MM-DD): ${date}`);
  return ms;
}

/** the next office-hours wall time at or after `t` (08:00-19:00, Monday to Friday) */
function officeHours(t: number, rng: Rng): number {
  for (;;) {
    const d = new Date(t);
    const day = d.getUTCDay();
    const h = d.getUTCHours();
    const midnight = t - (t % DAY);
    if (day === 0 || day === 6 || h >= 19) t = midnight + DAY + 8 * HOUR + rng.int(0, 90) * MINUTE;
    else if (h < 8) t = midnight + 8 * HOUR + rng.int(0, 90) * MINUTE;
    else return t - (t % 1000);
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
function formatWall(t: number): string {
  const d = new Date(t);
  return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

interface Step {
  step: string;
  at: number;
  note: string;
}

/** One ticket's steps (before the cut at the end of the window), in time order. */
function ticketSteps(rng: Rng, openedAt: number, truncatedStartRate: number): Step[] {
  const steps: Step[] = [];
  let t = openedAt;
  const add = (step: string, gapMs: number, note = '') => {
    t = officeHours(t + Math.max(MINUTE, Math.round(gapMs)), rng);
    steps.push({ step, at: t, note });
  };
  steps.push({ step: TICKET_STEPS.inserted, at: t, note: '' });
  if (rng.chance(0.96)) add(TICKET_STEPS.seriousness, rng.exp(25 * MINUTE));
  const work = (): boolean => {
    add(TICKET_STEPS.inCharge, rng.logNormal(3 * HOUR, 1.2));
    const waits = rng.weighted([0, 1, 2, 3], [55, 28, 12, 5]);
    for (let w = 0; w < waits; w++) {
      const note = rng.pick(WAIT_NOTES);
      add(TICKET_STEPS.waiting, rng.logNormal(5 * HOUR, 1), note);
      add(TICKET_STEPS.inCharge, rng.logNormal(note === 'on hold' ? 3 * DAY : DAY, 0.9));
    }
    // 7% are closed without a resolution (duplicate, invalid), 5% are still being worked
    const outcome = rng.weighted(['resolve', 'close', 'stuck'], [88, 7, 5]);
    if (outcome === 'close') add(TICKET_STEPS.closed, rng.logNormal(6 * HOUR, 1), rng.pick(CLOSE_NOTES.slice(2)));
    if (outcome !== 'resolve') return false;
    add(TICKET_STEPS.resolved, rng.logNormal(20 * HOUR, 1.1), 'solution given');
    return true;
  };
  let resolved = work();
  for (let reopens = 0; resolved && reopens < 2 && rng.chance(reopens === 0 ? 0.1 : 0.25); reopens++) {
    add(TICKET_STEPS.reopened, rng.logNormal(3 * DAY, 0.8), 'customer reports the problem again');
    resolved = work();
  }
  if (resolved && rng.chance(0.7)) add(TICKET_STEPS.closed, 7 * DAY + rng.int(0, 120) * MINUTE, 'auto-closed after resolution');
  if (rng.chance(truncatedStartRate)) steps.splice(0, rng.int(1, Math.min(3, steps.length - 1))); // started before the window
  return steps;
}

/** The rows of the log, header first, each without its line end. Streaming: one ticket in memory. */
export function* ticketLogLines(options: TicketLogOptions): Generator<string> {
  const tickets = options.tickets;
  const seed = hashString(options.seed ?? DEFAULT_TICKET_SEED);
  const customers = options.customers ?? Math.max(1, Math.round(tickets / 8));
  const from = wallMs(options.from ?? '2024-01-01');
  const until = wallMs(options.until ?? '2025-07-01');
  if (!(until > from)) throw new Error('the window must end after it starts');
  const truncated = options.truncatedStartRate ?? 0.06;
  const repeat = options.repeatRate ?? 0.01;
  yield TICKET_LOG_HEADER;
  // tickets are numbered in order of insertion, spread evenly over the window (the last 2% of it
  // stays free so that every ticket has a row inside it)
  const span = (until - from) * 0.98;
  for (let i = 0; i < tickets; i++) {
    const rng = new Rng(hashString(`${seed}:${i}`));
    const id = 100_000 + i;
    // a few loyal heavy users, a long tail: customer index skewed towards small numbers
    const customer = `Value ${1 + Math.floor(customers * rng.next() ** 2)}`;
    const openedAt = officeHours(from + Math.floor((span * i) / tickets) + rng.int(0, 8 * 60) * MINUTE, rng);
    const seriousness = rng.weighted(SERIOUSNESS, [30, 45, 20, 5]);
    const team = rng.pick(TEAMS);
    const agent = `Resource ${rng.int(1, 40)}`;
    let assigned = false;
    let inCharge = false;
    for (const s of ticketSteps(rng, openedAt, truncated)) {
      if (s.at >= until) break;
      // attributes carry forward; a log starting after the insertion shows those set before it
      if (s.step !== TICKET_STEPS.inserted) assigned = true;
      if (s.step !== TICKET_STEPS.inserted && s.step !== TICKET_STEPS.seriousness) inCharge = true;
      const line = [
        id,
        s.step,
        formatWall(s.at),
        customer,
        assigned ? seriousness : '',
        assigned ? team : '',
        inCharge ? agent : '',
        s.note,
      ].join(';');
      yield line;
      if (rng.chance(repeat)) yield line;
    }
  }
}

/** The whole log as text (tests, small sizes). */
export function ticketLogCsv(options: TicketLogOptions): string {
  let out = '';
  for (const line of ticketLogLines(options)) out += `${line}\n`;
  return out;
}

/** Writes the log to `path`, streaming; returns the number of data rows. */
export async function writeTicketLog(path: string, options: TicketLogOptions): Promise<{ rows: number }> {
  const out = createWriteStream(path);
  let rows = -1;
  let chunk = '';
  for (const line of ticketLogLines(options)) {
    rows++;
    chunk += `${line}\n`;
    if (chunk.length >= 256 * 1024) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return { rows };
}
