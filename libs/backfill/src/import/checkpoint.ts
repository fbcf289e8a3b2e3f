import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface ImportCounts {
  rowsRead: number;
  rowsFiltered: number;
  rowsRejected: number;
  eventsImported: number;
  /** events whose id was already in the log: nothing written (includes eventsRepeatedInFile) */
  eventsDuplicate: number;
  /** of eventsDuplicate, those repeating an event this import appended from an earlier row of the file */
  eventsRepeatedInFile: number;
}

export const zeroCounts = (): ImportCounts => ({
  rowsRead: 0,
  rowsFiltered: 0,
  rowsRejected: 0,
  eventsImported: 0,
  eventsDuplicate: 0,
  eventsRepeatedInFile: 0,
});

/**
 * What an interrupted import had durably done: every record up to `recordsDone` is appended or
 * rejected, and the reject file is `rejectBytes` long. Written after each batch is appended, so a
 * resumed run redoes at most one batch (harmless: event ids are deterministic).
 */
export interface Checkpoint {
  version: 1;
  fingerprint: string;
  mappingHash: string;
  recordsDone: number;
  lastLine: number;
  rejectBytes: number;
  counts: ImportCounts;
  /** log positions of the first and last event this import appended (to tell in-file repeats) */
  appended?: [number, number];
  updatedAt: string;
}

export const CHECKPOINT_FILE = 'checkpoint.json';
export const STATE_FILE = 'state.json';
export const REJECTS_FILE = 'rejects.csv';

/**
 * Import state (uploads, reject reports that quote file content, job records, checkpoints) can hold
 * personal data: files are created readable by the owner only, directories likewise.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Written whole to a temporary file then renamed: a crash leaves the old or the new one, never half. Owner-only. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
  chmodSync(tmp, PRIVATE_FILE_MODE); // a leftover temporary file keeps its old mode otherwise
  renameSync(tmp, path);
}

export function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined; // a torn or foreign file: start over rather than trust it
  }
}

export function readCheckpoint(dir: string): Checkpoint | undefined {
  const c = readJson<Checkpoint>(join(dir, CHECKPOINT_FILE));
  return c?.version === 1 ? c : undefined;
}

/** Creates the directory (and missing parents) owner-only; an existing directory is left as it is. */
export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Size plus a hash of the first and last 64 KiB: cheap, and changes when the export is replaced or grows. */
export function fileFingerprint(path: string): string {
  const size = statSync(path).size;
  const h = createHash('sha256').update(String(size));
  const fd = openSync(path, 'r');
  try {
    const n = Math.min(size, 65_536);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 0);
    h.update(buf);
    if (size > n) {
      const tail = Math.min(size - n, 65_536);
      const b2 = Buffer.alloc(tail);
      readSync(fd, b2, 0, tail, size - tail);
      h.update(b2);
    }
  } finally {
    closeSync(fd);
  }
  return `${size}:${h.digest('hex').slice(0, 32)}`;
}

/** Stable JSON (sorted keys) for hashing mappings. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export const sha = (s: string) => createHash('sha256').update(s).digest('hex');
