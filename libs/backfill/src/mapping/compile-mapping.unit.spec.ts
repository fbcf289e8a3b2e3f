import { compileMapping, type RowOutcome } from './compile-mapping';
import { parseMapping } from './parse-mapping';

const columns = ['ticket', 'activity', 'at', 'email', 'phone', 'amount', 'agent'];
const mapping = parseMapping({
  name: 'tickets',
  source: 'helpdesk',
  input: { format: 'csv' },
  key: ['ticket', 'activity'],
  filter: [{ column: 'activity', notEquals: 'Comment' }],
  events: [
    {
      name: 'activity',
      type: { column: 'activity', map: { Open: 'case.opened', Solved: 'case.resolved', Reopen: 'case.reopened' } },
      occurredAt: { column: 'at', type: 'date', format: 'YYYY/MM/DD HH:mm:ss.SSS', timeZone: 'Europe/Amsterdam' },
      channel: 'email',
      agentId: { column: 'agent', optional: true },
      customer: [
        { kind: 'email', value: { column: 'email' }, optional: true },
        { kind: 'phone', value: { column: 'phone' }, optional: true },
      ],
      data: { caseId: { template: 'T-{ticket}' } },
    },
    {
      name: 'refund',
      when: [{ column: 'amount', empty: false }],
      type: 'refund.issued',
      occurredAt: { column: 'at', type: 'date', format: 'YYYY/MM/DD HH:mm:ss.SSS', timeZone: 'Europe/Amsterdam' },
      channel: 'email',
      customer: [{ kind: 'email', value: { column: 'email' } }],
      data: { amount: { column: 'amount', type: 'number', decimal: ',', thousands: '.' }, currency: 'EUR', orderId: { column: 'ticket' } },
    },
  ],
});
const compiled = compileMapping(mapping, columns);
const row = (line: number, values: string[]) => compiled.map({ line, text: values.join(','), values });
const events = (o: RowOutcome) => (o.kind === 'events' ? o.events : []);

describe('row mapping', () => {
  it('maps a row through value tables, templates, zones and optional cells', () => {
    const out = row(2, ['17', 'Open', '2016/01/04 09:00:00.000', 'Ana@Example.com', '', '', '']);
    expect(out.kind).toBe('events');
    const [e] = events(out);
    expect(e.rule).toBe('activity');
    expect(e.envelope).toMatchObject({
      type: 'case.opened',
      occurredAt: '2016-01-04T08:00:00.000Z',
      source: 'helpdesk',
      channel: 'email',
      customer: { identifiers: [{ kind: 'email', value: 'Ana@Example.com' }] },
      data: { caseId: 'T-17' },
    });
    expect(e.envelope).not.toHaveProperty('agentId');
  });

  it('yields several events from one row, each with its own deterministic id', () => {
    const a = events(row(3, ['18', 'Solved', '2016/01/05 10:00:00.000', 'bo@example.com', '', '1.234,50', 'agent-7']));
    expect(a.map((e) => e.envelope.type)).toEqual(['case.resolved', 'refund.issued']);
    expect(a[1].envelope.data).toEqual({ amount: 1234.5, currency: 'EUR', orderId: '18' });
    const again = events(row(99, ['18', 'Solved', '2016/01/05 10:00:00.000', 'bo@example.com', '', '1.234,50', 'agent-7']));
    expect(again.map((e) => e.envelope.eventId)).toEqual(a.map((e) => e.envelope.eventId)); // key is ticket+activity, not the line
    expect(new Set(a.map((e) => e.envelope.eventId)).size).toBe(2);
  });

  it('filters rows', () => {
    expect(row(4, ['18', 'Comment', '2016/01/05 10:00:00.000', 'bo@example.com', '', '', '']).kind).toBe('filtered');
  });

  it('rejects a row with every problem named by field and column, never echoing identifiers', () => {
    const out = row(5, ['19', 'Escalate', '05-01-2016', '', '', '12,00', '']);
    expect(out.kind).toBe('rejected');
    const errors = out.kind === 'rejected' ? out.errors : [];
    expect(errors).toEqual(
      expect.arrayContaining([
        {
          event: 'activity',
          field: 'type',
          reason: 'column "activity": "Escalate" is not in the value table ("Open", "Solved", "Reopen")',
        },
        { event: 'activity', field: 'occurredAt', reason: 'column "at": "05-01-2016" does not match the format YYYY/MM/DD HH:mm:ss.SSS' },
        { event: 'activity', field: 'customer.identifiers', reason: 'no identifier: every identifier cell of this row is empty' },
        { event: 'refund', field: 'customer.identifiers.0.value', reason: 'column "email" is empty' },
      ]),
    );
  });

  it('uses the whole row as the default key: identical rows share ids', () => {
    const m = parseMapping({
      name: 'x',
      source: 'x',
      input: { format: 'csv' },
      events: [
        {
          type: 'web.visited',
          occurredAt: { column: 'at', type: 'date', format: 'epoch-ms' },
          channel: 'web',
          customer: [{ kind: 'cookie', value: { column: 'c' } }],
          data: { url: { column: 'u' } },
        },
      ],
    });
    const c = compileMapping(m, ['at', 'c', 'u']);
    const id = (line: number, text: string) => events(c.map({ line, text, values: text.split(',') }))[0].envelope.eventId;
    expect(id(2, '1,a,http://x')).toBe(id(7, '1,a,http://x'));
    expect(id(2, '1,a,http://x')).not.toBe(id(2, '1,b,http://x'));
  });

  it('runs a catastrophic-backtracking pattern ("^(a+)+$") in linear time: a long cell that almost matches is filtered', () => {
    const m = parseMapping({
      name: 'evil',
      source: 'evil',
      input: { format: 'csv' },
      filter: [{ column: 'u', matches: '^(a+)+$' }],
      events: [
        {
          type: 'web.visited',
          occurredAt: { column: 'at', type: 'date', format: 'epoch-ms' },
          channel: 'web',
          customer: [{ kind: 'cookie', value: { column: 'c' } }],
          data: { url: { column: 'u' } },
        },
      ],
    });
    const c = compileMapping(m, ['at', 'c', 'u']);
    // a backtracking engine needs about 2^n steps here (n = 100,000): it would never return
    const evil = `${'a'.repeat(100_000)}!`;
    expect(c.map({ line: 2, text: `1,x,${evil}`, values: ['1', 'x', evil] }).kind).toBe('filtered');
    expect(c.map({ line: 3, text: '1,x,aaaa', values: ['1', 'x', 'aaaa'] }).kind).toBe('events');
  });
});
