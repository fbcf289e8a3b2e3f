import type { RecordedEvent } from '@cem/event-store';
import { auditReportHtml, auditReportMarkdown, redact, REDACTED } from './audit-report';
import { auditTrailOf } from './audit-trail';

const event = (position: number, type: string, data: unknown, metadata: Record<string, unknown> = {}): RecordedEvent => ({
  eventId: `e-${position}`,
  type,
  streamId: 'customer-c1',
  revision: position - 1,
  position,
  data,
  metadata: { schemaVersion: 1, occurredAt: '2026-11-01T10:00:00.000Z', customerId: 'c1', source: 'zendesk', ...metadata },
  recordedAt: '2026-11-02T10:00:00.000Z',
});

const log = {
  customerId: 'c1',
  mergedIds: ['c2'],
  events: [
    event(
      1,
      'customer.registered',
      { customerId: 'c1', identifiers: [{ kind: 'email', value: 'ann@example.com' }] },
      { source: 'platform' },
    ),
    event(
      3,
      'case.opened',
      { caseId: 'K1', subject: 'my address is 1 Main St' },
      {
        identifiers: [{ kind: 'email', value: 'ann@example.com' }],
        agentId: 'agent|7',
        correlationId: 'K1',
      },
    ),
    event(4, 'customers.merged', {
      survivorId: 'c1',
      mergedIds: ['c2'],
      evidence: { identifiers: ['phone:+31600000000'], rule: 'shared-identifier', triggeringEventId: 'e-3', survivorRule: 'oldest' },
    }),
    event(7, 'profile.updated', { name: 'Ann <script>', city: 'Utrecht' }),
    event(9, 'churn-risk.changed', { customerId: 'c1', band: 'high', probability: 0.7 }, { source: 'platform' }),
  ],
};

describe('audit trail and report', () => {
  it('pages in log order: nextAfter is the last position of a full page', () => {
    const ctx = { generatedAt: Date.parse('2026-11-21T12:00:00Z'), headPosition: 12 };
    const first = auditTrailOf(log, ctx, { limit: 2 });
    expect(first.events.map((e) => e.position)).toEqual([1, 3]);
    expect(first).toMatchObject({ nextAfter: 3, total: 5, headPosition: 12, generatedAt: '2026-11-21T12:00:00.000Z', mergedIds: ['c2'] });
    const rest = auditTrailOf(log, ctx, { after: 3, limit: 3 });
    expect(rest.events.map((e) => e.position)).toEqual([4, 7, 9]);
    expect(rest.nextAfter).toBeUndefined();
    expect(auditTrailOf(log, ctx, { after: 9 }).events).toEqual([]);
  });

  it("redacts the catalogue's personal-data paths, * included, and leaves the rest as it is", () => {
    expect(
      redact(
        {
          identifiers: [
            { kind: 'email', value: 'a@b.c' },
            { kind: 'crm', value: '7' },
          ],
        },
        ['identifiers.*.value'],
      ),
    ).toEqual({
      identifiers: [
        { kind: 'email', value: REDACTED },
        { kind: 'crm', value: REDACTED },
      ],
    });
    expect(redact({ name: 'Ann', city: 'X' }, ['*'])).toEqual({ name: REDACTED, city: REDACTED });
    expect(redact({ caseId: 'K1' }, ['subject'])).toEqual({ caseId: 'K1' });
    const original = { subject: 's' };
    redact(original, ['subject']);
    expect(original).toEqual({ subject: 's' });
  });

  it('writes a Markdown report with the header and one row per event, without personal data', () => {
    const md = auditReportMarkdown(auditTrailOf(log, { generatedAt: Date.parse('2026-11-21T12:00:00Z'), headPosition: 12 }));
    const lines = md.trim().split('\n');
    expect(lines[0]).toBe('# Audit trail of customer c1');
    expect(md).toContain('- **merged into it**: c2');
    expect(md).toContain('- **log head position**: 12');
    expect(md).toContain('- **generated at**: 2026-11-21T12:00:00.000Z');
    const rows = lines.filter((l) => l.startsWith('| ') && !l.startsWith('| position') && !l.startsWith('| ---'));
    expect(rows.map((r) => r.split(' | ')[0])).toEqual(['| 1', '| 3', '| 4', '| 7', '| 9']);
    for (const secret of ['ann@example.com', '1 Main St', '+31600000000', 'Ann <script>', 'Utrecht']) expect(md).not.toContain(secret);
    expect(md).toContain('agent\\|7'); // a pipe in a value does not split the table
    expect(md).toContain('"band":"high"'); // a system payload without personal data is shown whole
    expect(rows[1]).toContain('| email |'); // identifiers by kind
  });

  it('writes an HTML report with every value escaped and no personal data', () => {
    const page = auditReportHtml(auditTrailOf(log, { generatedAt: 0, headPosition: 12 }));
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page.match(/<tr><td/g)).toHaveLength(5);
    expect(page).not.toContain('<script>');
    for (const secret of ['ann@example.com', '1 Main St', 'Utrecht']) expect(page).not.toContain(secret);
    expect(page).toContain('&quot;band&quot;:&quot;high&quot;');
  });
});
