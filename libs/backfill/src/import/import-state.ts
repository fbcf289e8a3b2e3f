import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MappingError, parseMapping } from '../mapping/parse-mapping';
import type { MappingSpec } from '../mapping/mapping.types';
import { canonicalJson, sha } from './checkpoint';

/** Import state lives in DATA_DIR/imports/<id>/ (checkpoint, reject file, job record). */
export const importsDir = (dataDir: string) => join(resolve(dataDir), 'imports');

/** The same mapping on the same file path is the same import: a re-run resumes or re-checks it. */
export function cliImportId(mapping: MappingSpec, file: string): string {
  return `cli-${sha(`${canonicalJson(mapping)}\u0000${resolve(file)}`).slice(0, 16)}`;
}

/** Reads and checks a mapping file; JSON syntax errors name the file, shape errors the JSON path. */
export function loadMappingFile(path: string): MappingSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MappingError([
      { path: '', reason: `cannot read the mapping file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` },
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MappingError([{ path: '', reason: `the mapping file is not valid JSON: ${(e as Error).message}` }]);
  }
  return parseMapping(raw);
}
