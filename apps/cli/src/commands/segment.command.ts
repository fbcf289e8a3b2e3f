import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliInputError } from './audit.command';

/*
 * `cem segment ...`: analyst-defined segments through the HTTP API (docs/segments.md), so that a
 * definition is validated, authored (the API key's name) and recorded exactly as from any client.
 * The API's URL and an analyst key come from --url / --api-key or CEM_API_URL / CEM_API_KEY.
 */

export interface ApiTarget {
  url: string;
  apiKey: string;
}

export interface ApiAnswer {
  status: number;
  body: string;
}

/** One request to the API; a refusal (4xx/5xx) is thrown with every error the API named (field: reason). */
export async function callApi(target: ApiTarget, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(new URL(path, target.url), {
    method,
    headers: { authorization: `Bearer ${target.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) {
    let detail = text;
    try {
      const j = JSON.parse(text) as { message?: string; errors?: { field: string; reason: string }[] };
      detail = [j.message, ...(j.errors ?? []).map((e) => `  ${e.field}: ${e.reason}`)].filter(Boolean).join('\n');
    } catch {
      // not JSON: the text as it came
    }
    throw new CliInputError(`${method} ${path}: ${res.status}\n${detail}`);
  }
  return { status: res.status, body: text };
}

/** `--rule`: the rule as JSON, or `@file` holding it. */
export function parseRule(text: string): unknown {
  const json = text.startsWith('@') ? readFileSync(text.slice(1), 'utf8') : text;
  try {
    return JSON.parse(json);
  } catch {
    throw new CliInputError(`--rule: not JSON (give the rule as JSON or @file.json, docs/segments.md)`);
  }
}

function targetOf(opts: { url?: string; apiKey?: string }): ApiTarget {
  const url = opts.url ?? process.env.CEM_API_URL ?? `http://localhost:${process.env.PORT ?? 3000}`;
  const apiKey = opts.apiKey ?? process.env.CEM_API_KEY;
  if (!apiKey) throw new CliInputError('an API key with the role analyst is needed: --api-key or CEM_API_KEY');
  return { url, apiKey };
}

interface DefinitionOptions {
  name: string;
  description?: string;
  rule: string;
  consentPurpose?: string;
}
const definition = (o: DefinitionOptions) => ({
  name: o.name,
  ...(o.description === undefined ? {} : { description: o.description }),
  rule: parseRule(o.rule),
  ...(o.consentPurpose === undefined ? {} : { consentPurpose: o.consentPurpose }),
});

const pretty = (a: ApiAnswer) => `${JSON.stringify(JSON.parse(a.body), null, 2)}\n`;

/** The one-line-per-segment table of `cem segment list`. */
export function formatSegments(list: {
  items: { segmentId: string; status: string; version: number; size: number; heldBack: number; segment: { name: string } }[];
}): string {
  const rows = list.items.map((s) => [s.segmentId, s.status, String(s.version), String(s.size), String(s.heldBack), s.segment.name]);
  const head = ['segment', 'status', 'version', 'size', 'heldBack', 'name'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

export function registerSegmentCommands(program: Command): void {
  const segment = program
    .command('segment')
    .description(
      'Analyst-defined segments through the HTTP API (docs/segments.md): --url/--api-key or CEM_API_URL/CEM_API_KEY (role analyst)',
    );
  const withTarget = (c: Command) =>
    c
      .option('--url <url>', 'the API, default CEM_API_URL or http://localhost:$PORT')
      .option('--api-key <key>', 'an analyst key, default CEM_API_KEY');
  const out = (s: string): void => void process.stdout.write(s);
  const withDefinition = (c: Command) =>
    c
      .requiredOption('--name <name>', 'the segment name')
      .requiredOption('--rule <json>', 'the rule as JSON, or @file.json')
      .option('--description <text>', 'what the segment is for')
      .option('--consent-purpose <purpose>', 'the consent purpose it is used for (members without it are held back)');

  withTarget(segment.command('list').description('Every segment with its size and held-back count'))
    .option('--json', 'the API answer as JSON')
    .action(async (o: { url?: string; apiKey?: string; json?: boolean }) => {
      const a = await callApi(targetOf(o), 'GET', '/v1/segments');
      out(o.json ? pretty(a) : formatSegments(JSON.parse(a.body)));
    });
  withTarget(
    segment.command('show <segmentId>').description('One segment: definition, size, trend, evaluation progress, every change'),
  ).action(async (id: string, o: { url?: string; apiKey?: string }) =>
    out(pretty(await callApi(targetOf(o), 'GET', `/v1/segments/${encodeURIComponent(id)}`))),
  );
  withTarget(
    segment.command('dry-run').description('How many customers a rule matches now, how many held back, and 10 of them (nothing saved)'),
  )
    .requiredOption('--rule <json>', 'the rule as JSON, or @file.json')
    .option('--consent-purpose <purpose>', 'count those without this consent as held back')
    .action(async (o: { url?: string; apiKey?: string; rule: string; consentPurpose?: string }) =>
      out(
        pretty(
          await callApi(targetOf(o), 'POST', '/v1/segments/dry-run', {
            rule: parseRule(o.rule),
            ...(o.consentPurpose ? { consentPurpose: o.consentPurpose } : {}),
          }),
        ),
      ),
    );
  withTarget(
    withDefinition(segment.command('create <segmentId>').description('Create a segment (evaluated over every customer in the background)')),
  ).action(async (id: string, o: DefinitionOptions & { url?: string; apiKey?: string }) =>
    out(pretty(await callApi(targetOf(o), 'POST', '/v1/segments', { segmentId: id, ...definition(o) }))),
  );
  withTarget(
    withDefinition(segment.command('change <segmentId>').description('Change a segment: the whole definition, a new version')),
  ).action(async (id: string, o: DefinitionOptions & { url?: string; apiKey?: string }) =>
    out(pretty(await callApi(targetOf(o), 'PUT', `/v1/segments/${encodeURIComponent(id)}`, definition(o)))),
  );
  withTarget(segment.command('archive <segmentId>').description('Archive a segment: its members leave, its history stays')).action(
    async (id: string, o: { url?: string; apiKey?: string }) =>
      out(pretty(await callApi(targetOf(o), 'DELETE', `/v1/segments/${encodeURIComponent(id)}`))),
  );
  withTarget(
    segment.command('export <segmentId>').description('The members that may be exported (holding the consent purpose), as CSV on stdout'),
  ).action(async (id: string, o: { url?: string; apiKey?: string }) =>
    out((await callApi(targetOf(o), 'GET', `/v1/segments/${encodeURIComponent(id)}/members?format=csv`)).body),
  );
}
