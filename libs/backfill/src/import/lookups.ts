import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { MappingError, type MappingProblem } from '../mapping/parse-mapping';
import type { InputSpec, MappingSpec, ValueObject } from '../mapping/mapping.types';
import { readRecords } from '../reader/read-records';

export const LOOKUPS_FILE = 'lookups.sqlite';
const ROWS_PER_TRANSACTION = 20_000;

/** One joined row: the lookup file's cells by column, and how many rows of the lookup file have that key. */
export interface LookupHit {
  values: Record<string, string>;
  rows: number;
  /** `duplicates: "sum"` only: every row of the key (its line in the lookup file and its cells), in file order */
  all?: { line: number; values: Record<string, string> }[];
}

/** The lookups of one import, answered from the on-disk index (synchronous: better-sqlite3). */
export interface LookupIndex {
  get(name: string, key: string): LookupHit | undefined;
  duplicates(name: string): 'error' | 'first' | 'last' | 'sum';
  /** the lookup file's name, for reasons */
  fileOf(name: string): string;
  close(): void;
}

/** Every `{"lookup": ...}` value of the mapping, with its JSON path. */
export function lookupRefs(spec: MappingSpec): { path: string; lookup: NonNullable<ValueObject['lookup']> }[] {
  const out: { path: string; lookup: NonNullable<ValueObject['lookup']> }[] = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.lookup && typeof o.lookup === 'object' && !Array.isArray(o.lookup))
        out.push({ path: `${path}.lookup`, lookup: o.lookup as never });
      for (const [k, x] of Object.entries(o)) if (k !== 'lookup') walk(x, path ? `${path}.${k}` : k);
    }
  };
  walk(spec.events, 'events');
  return out;
}

/**
 * Indexes every lookup file of the mapping into `<stateDir>/lookups.sqlite` (rebuilt at each run,
 * deleted when the import completes): one row per key with the cells of the columns the mapping
 * uses, and how many rows had that key. Memory stays bounded whatever the lookup files' size.
 * A lookup file that is missing, or lacks the key column or a used column, refuses the mapping.
 */
export async function buildLookups(spec: MappingSpec, mainFile: string, stateDir: string): Promise<LookupIndex | undefined> {
  const lookups = Object.entries(spec.lookups ?? {});
  if (lookups.length === 0) return undefined;
  const refs = lookupRefs(spec);
  const problems: MappingProblem[] = [];
  const dbPath = join(stateDir, LOOKUPS_FILE);
  rmSync(dbPath, { force: true });
  const db = new Database(dbPath);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  const files = new Map<string, string>();
  try {
    for (const [i, [name, l]] of lookups.entries()) {
      const path = isAbsolute(l.file) ? l.file : resolve(dirname(mainFile), l.file);
      files.set(name, l.file);
      const used = [...new Set(refs.filter((r) => r.lookup.from === name).map((r) => r.lookup.column))];
      const input: InputSpec = l.input ?? { format: 'csv' };
      const sum = l.duplicates === 'sum';
      let insert: (k: string, v: string, line: number) => void;
      if (sum) {
        db.exec(`CREATE TABLE l${i} (k TEXT NOT NULL, line INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY (k, line)) WITHOUT ROWID`);
        const stmt = db.prepare(`INSERT INTO l${i} (k, line, v) VALUES (?, ?, ?)`);
        insert = (k, v, line) => stmt.run(k, line, v);
      } else {
        db.exec(`CREATE TABLE l${i} (k TEXT PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID`);
        const keep = l.duplicates === 'last' ? 'excluded.v' : 'v';
        const stmt = db.prepare(`INSERT INTO l${i} (k, v, n) VALUES (?, ?, 1) ON CONFLICT(k) DO UPDATE SET n = n + 1, v = ${keep}`);
        insert = (k, v) => stmt.run(k, v);
      }
      let take: ((values: string[] | undefined, object: Record<string, unknown> | undefined) => [string, string] | undefined) | undefined;
      let header = input.format === 'csv' && input.header !== false;
      if (!header) take = taker(input.format === 'csv' ? input.columns : undefined, l.key, used, name, refs, problems);
      let pending = 0;
      db.exec('BEGIN');
      try {
        for await (const item of readRecords(path, input)) {
          if (header) {
            header = false;
            take = taker(input.columns ?? item.values ?? [], l.key, used, name, refs, problems, item.line);
            if (problems.length > 0) break;
            continue;
          }
          if (item.error) continue;
          const kv = take!(item.values, item.object);
          if (!kv || kv[0] === '') continue;
          insert(kv[0], kv[1], item.line);
          if (++pending >= ROWS_PER_TRANSACTION) {
            db.exec('COMMIT; BEGIN');
            pending = 0;
          }
        }
        db.exec('COMMIT');
      } catch (e) {
        if (db.inTransaction) db.exec('ROLLBACK');
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          problems.push({
            path: `lookups.${name}.file`,
            reason: `file "${l.file}" does not exist (paths are relative to the main file's folder)`,
          });
          continue;
        }
        if (e instanceof Error && e.name === 'ImportFileError') {
          problems.push({ path: `lookups.${name}.file`, reason: `file "${l.file}": ${e.message}` });
          continue;
        }
        throw e;
      }
    }
    if (problems.length > 0) throw new MappingError(problems);
  } catch (e) {
    db.close();
    rmSync(dbPath, { force: true });
    throw e;
  }
  const selects = new Map(
    lookups.map(([name, l], i) => {
      if (l.duplicates !== 'sum') {
        const one = db.prepare(`SELECT v, n FROM l${i} WHERE k = ?`);
        return [
          name,
          (key: string): LookupHit | undefined => {
            const r = one.get(key) as { v: string; n: number } | undefined;
            return r ? { values: JSON.parse(r.v) as Record<string, string>, rows: r.n } : undefined;
          },
        ] as const;
      }
      const every = db.prepare(`SELECT line, v FROM l${i} WHERE k = ? ORDER BY line`);
      return [
        name,
        (key: string): LookupHit | undefined => {
          const rs = every.all(key) as { line: number; v: string }[];
          if (rs.length === 0) return undefined;
          const all = rs.map((r) => ({ line: r.line, values: JSON.parse(r.v) as Record<string, string> }));
          return { values: all[0].values, rows: all.length, all };
        },
      ] as const;
    }),
  );
  // one row's values often read several columns of one lookup by the same key: remember the last answer
  const last = new Map<string, { key: string; hit: LookupHit | undefined }>();
  return {
    get(name, key) {
      const cached = last.get(name);
      if (cached && cached.key === key) return cached.hit;
      const hit = selects.get(name)!(key);
      last.set(name, { key, hit });
      return hit;
    },
    duplicates: (name) => spec.lookups![name].duplicates ?? 'error',
    fileOf: (name) => files.get(name)!,
    close() {
      if (db.open) db.close();
    },
  };
}

function taker(
  columns: string[] | undefined,
  key: string,
  used: string[],
  name: string,
  refs: ReturnType<typeof lookupRefs>,
  problems: MappingProblem[],
  headerLine?: number,
) {
  const text = (x: unknown) => (x === undefined || x === null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x));
  if (!columns) {
    // ndjson: dotted paths
    const get = (o: Record<string, unknown> | undefined, p: string) =>
      text(
        p
          .split('.')
          .reduce<unknown>(
            (cur, part) => (cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined),
            o,
          ),
      );
    return (_: string[] | undefined, o: Record<string, unknown> | undefined): [string, string] => [
      get(o, key),
      JSON.stringify(Object.fromEntries(used.map((c) => [c, get(o, c)]))),
    ];
  }
  const where = headerLine === undefined ? '' : ` (header line ${headerLine})`;
  const at = new Map(columns.map((c, i) => [c, i]));
  if (!at.has(key))
    problems.push({
      path: `lookups.${name}.key`,
      reason: `column "${key}" is not in the lookup file${where}; columns are: ${columns.join(', ')}`,
    });
  for (const r of refs)
    if (r.lookup.from === name && !at.has(r.lookup.column))
      problems.push({
        path: `${r.path}.column`,
        reason: `column "${r.lookup.column}" is not in lookup "${name}"; columns are: ${columns.join(', ')}`,
      });
  const k = at.get(key) ?? 0;
  const idx = used.map((c) => [c, at.get(c) ?? 0] as const);
  return (values: string[] | undefined): [string, string] | undefined =>
    values ? [values[k] ?? '', JSON.stringify(Object.fromEntries(idx.map(([c, i]) => [c, values[i] ?? ''])))] : undefined;
}
