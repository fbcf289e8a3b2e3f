import { stringify } from 'csv-stringify/sync';
import { getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

/** `?format=` of the analyst reads: JSON (default) or a CSV export of the same rows. */
export const EXPORT_FORMATS = ['json', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * A cell a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) is prefixed
 * with a quote: labels come from configuration and must not execute in the analyst's spreadsheet.
 */
const neutralise = (value: unknown): unknown => (typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

/** Sends rows as a CSV file (RFC 4180, header line, UTF-8), named `filename`. */
export function sendCsv(
  reply: FastifyReply,
  filename: string,
  columns: readonly string[],
  rows: readonly Record<string, unknown>[],
): string {
  reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${filename}"`);
  return stringify(
    rows.map((r) => columns.map((c) => neutralise(r[c] ?? ''))),
    { header: true, columns: [...columns], record_delimiter: '\r\n' },
  );
}

/** The OpenAPI 200 of a read that is JSON by default and CSV with `format=csv` (register `dto` with @ApiExtraModels). */
export const jsonOrCsv = (dto: new () => object, csvExample: string) => ({
  description: 'JSON; with `format=csv` the same rows as a CSV file (header line, one line per row)',
  content: {
    'application/json': { schema: { $ref: getSchemaPath(dto) } },
    'text/csv': { schema: { type: 'string' }, example: csvExample },
  },
});
