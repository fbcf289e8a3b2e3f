import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TICKET_LOG_COLUMNS, TICKET_LOG_HEADER, TICKET_STEPS, ticketLogCsv, writeTicketLog } from './ticket-log';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const rowsOf = (csv: string) =>
  csv
    .split('\n')
    .slice(1)
    .filter((l) => l !== '')
    .map((l) => l.split(';'));

describe('ticket activity log generator', () => {
  const csv = ticketLogCsv({ tickets: 2000, seed: 'unit' });
  const rows = rowsOf(csv);
  const byTicket = new Map<string, string[][]>();
  for (const r of rows) byTicket.set(r[0], [...(byTicket.get(r[0]) ?? []), r]);

  it('is deterministic: the same options give a byte-identical file (also when written), another seed another', async () => {
    expect(sha(ticketLogCsv({ tickets: 2000, seed: 'unit' }))).toBe(sha(csv));
    expect(sha(ticketLogCsv({ tickets: 2000, seed: 'other' }))).not.toBe(sha(csv));
    const dir = mkdtempSync(join(tmpdir(), 'cem-tickets-'));
    try {
      const { rows: written } = await writeTicketLog(join(dir, 'log.csv'), { tickets: 2000, seed: 'unit' });
      expect(readFileSync(join(dir, 'log.csv'), 'utf8')).toBe(csv);
      expect(written).toBe(rows.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('spells out its defaults: customers = tickets / 8, window 2024-01-01 to 2025-07-01', () => {
    expect(rowsOf(ticketLogCsv({ tickets: 2000, seed: 'unit', customers: 250, from: '2024-01-01', until: '2025-07-01' }))).toEqual(rows);
  });

  it('has the export layout: header, 8 fields a row, local office-hour times, customers like "Value 22"', () => {
    expect(csv.split('\n')[0]).toBe(TICKET_LOG_HEADER);
    expect(csv.endsWith('\n')).toBe(true);
    for (const r of rows) {
      expect(r).toHaveLength(TICKET_LOG_COLUMNS.length);
      expect(r[2]).toMatch(/^\d{2}\/\d{2}\/20(24|25) (0[89]|1\d):\d{2}:\d{2}$/);
      expect(r[3]).toMatch(/^Value \d+$/);
    }
    expect(byTicket.size).toBe(2000);
  });

  it('has every step kind, reopens, repeated rows, logs not starting with the insertion, open tickets', () => {
    const kinds = new Set(rows.map((r) => r[1]));
    expect([...kinds].sort()).toEqual(Object.values(TICKET_STEPS).sort());
    const lines = csv.split('\n');
    expect(lines.length - new Set(lines).size).toBeGreaterThan(20); // exact repeats
    const firsts = [...byTicket.values()].map((rs) => rs[0][1]);
    expect(firsts.filter((s) => s !== TICKET_STEPS.inserted).length).toBeGreaterThan(50);
    const reopened = [...byTicket.values()].filter((rs) => rs.some((r) => r[1] === TICKET_STEPS.reopened));
    expect(reopened.length).toBeGreaterThan(100);
    expect(reopened.some((rs) => rs.filter((r) => r[1] === TICKET_STEPS.reopened).length === 2)).toBe(true);
    const last = [...byTicket.values()].map((rs) => rs[rs.length - 1][1]);
    expect(last.filter((s) => s === TICKET_STEPS.inCharge || s === TICKET_STEPS.waiting).length).toBeGreaterThan(30);
  });

  it("keeps each ticket's rows in time order, with one customer a ticket and attributes carried forward", () => {
    const instant = (t: string) => t.replace(/^(\d{2})\/(\d{2})\/(\d{4}) /, '$3-$2-$1T');
    for (const rs of byTicket.values()) {
      for (let i = 1; i < rs.length; i++) expect(instant(rs[i][2]) >= instant(rs[i - 1][2])).toBe(true);
      expect(new Set(rs.map((r) => r[3])).size).toBe(1);
      const seriousAt = rs.findIndex((r) => r[4] !== '');
      if (seriousAt >= 0) expect(rs.slice(seriousAt).every((r) => r[4] !== '' && r[5] !== '')).toBe(true);
      if (rs[0][1] === TICKET_STEPS.inserted) expect(rs[0].slice(4)).toEqual(['', '', '', '']);
    }
  });
});
