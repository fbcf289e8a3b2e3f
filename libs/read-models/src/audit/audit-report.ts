import { isTouchpointType, SYSTEM_PERSONAL_DATA, TOUCHPOINT_CATALOGUE, type SystemType } from '@cem/domain';
import type { AuditEntry, AuditTrail } from './audit-trail';

/*
 * The audit report an auditor keeps (Markdown or HTML). A kept file is out of reach of erasure, so it
 * carries no personal data: each payload is shown with the paths the catalogue marks as personal data
 * replaced by REDACTED, and the identifiers an event named by their kinds only. The JSON trail (role
 * ops) carries everything as stored.
 */

export const REDACTED = '[personal data]';

/** The personal-data paths of a type's payload (catalogue for touch points, SYSTEM_PERSONAL_DATA for the platform's own). */
export function personalDataPaths(type: string): readonly string[] {
  if (isTouchpointType(type)) return TOUCHPOINT_CATALOGUE[type].personalData;
  return SYSTEM_PERSONAL_DATA[type as SystemType] ?? [];
}

/** A copy of `value` with every dotted path (`*`: any key or element) replaced by REDACTED. */
export function redact(value: unknown, paths: readonly string[]): unknown {
  let out = structuredClone(value);
  for (const path of paths) out = redactPath(out, path.split('.'));
  return out;
}

function redactPath(value: unknown, [head, ...rest]: string[]): unknown {
  if (head === undefined) return REDACTED;
  if (value === null || typeof value !== 'object') return value;
  const target = value as Record<string, unknown>;
  const keys = head === '*' ? Object.keys(target) : Object.prototype.hasOwnProperty.call(target, head) ? [head] : [];
  for (const k of keys) if (target[k] !== undefined) target[k] = redactPath(target[k], rest);
  return value;
}

/** One event's payload for the report: personal data redacted, as compact JSON. */
export function reportPayload(entry: AuditEntry): string {
  return JSON.stringify(redact(entry.data, personalDataPaths(entry.type)));
}

/** The identifiers an event named, by kind only (`email, phone`): the values are personal data. */
export function identifierKinds(entry: AuditEntry): string {
  const kinds = entry.identifiers.map((i) => (i && typeof i === 'object' ? String((i as { kind?: unknown }).kind) : '?'));
  return [...new Set(kinds)].join(', ');
}

const COLUMNS = [
  'position',
  'type',
  'occurred at',
  'recorded at',
  'source',
  'channel',
  'agent',
  'correlation',
  'causation',
  'stream',
  'rev',
  'identifiers',
  'data',
] as const;

function cells(e: AuditEntry): string[] {
  return [
    String(e.position),
    e.type,
    e.occurredAt ?? '',
    e.recordedAt,
    e.source ?? '',
    e.channel ?? '',
    e.agentId ?? '',
    e.correlationId ?? '',
    e.causationId ?? '',
    e.streamId,
    String(e.revision),
    identifierKinds(e),
    reportPayload(e),
  ];
}

function header(trail: AuditTrail): [string, string][] {
  return [
    ['customer', trail.customerId],
    ['merged into it', trail.mergedIds.length > 0 ? trail.mergedIds.join(', ') : '(none)'],
    ['generated at', trail.generatedAt],
    ['log head position', String(trail.headPosition)],
    ['events', String(trail.total)],
    ['personal data', `payload paths the catalogue marks as personal data are shown as ${REDACTED}; identifiers by kind only`],
  ];
}

const mdCell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function auditReportMarkdown(trail: AuditTrail): string {
  const lines = [
    `# Audit trail of customer ${trail.customerId}`,
    '',
    ...header(trail).map(([k, v]) => `- **${k}**: ${mdCell(v)}`),
    '',
    `| ${COLUMNS.join(' | ')} |`,
    `| ${COLUMNS.map(() => '---').join(' | ')} |`,
    ...trail.events.map((e) => `| ${cells(e).map(mdCell).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

const html = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

export function auditReportHtml(trail: AuditTrail): string {
  const title = `Audit trail of customer ${html(trail.customerId)}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${title}</title>`,
    '<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:0.85em}th,td{border:1px solid #999;padding:2px 6px;vertical-align:top;text-align:left}td.data{font-family:monospace;word-break:break-all;max-width:40em}</style>',
    '</head>',
    '<body>',
    `<h1>${title}</h1>`,
    '<dl>',
    ...header(trail).map(([k, v]) => `<dt>${html(k)}</dt><dd>${html(v)}</dd>`),
    '</dl>',
    '<table>',
    `<thead><tr>${COLUMNS.map((c) => `<th>${html(c)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...trail.events.map((e) => {
      const row = cells(e);
      return `<tr>${row.map((c, i) => `<td${i === row.length - 1 ? ' class="data"' : ''}>${html(c)}</td>`).join('')}</tr>`;
    }),
    '</tbody>',
    '</table>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
