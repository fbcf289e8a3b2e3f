import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** Mode of every data file: they hold key hashes, identifiers and personal data. */
export const OWNER_ONLY_FILE = 0o600;
/** Mode of a data directory this process creates. */
export const OWNER_ONLY_DIR = 0o700;

/** Creates `dir` (and missing parents) owner-only; an existing directory is left as it is (it may be shared, such as /var/lib). */
export function ensureOwnerOnlyDir(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: OWNER_ONLY_DIR });
  chmodSync(dir, OWNER_ONLY_DIR); // mkdir's mode passes through the umask
}

/**
 * Prepares a SQLite file before it is opened: its directory exists, the file exists owner-only
 * (0600), and so do a -wal, -shm or -journal file left from an earlier run. SQLite creates the
 * -wal and -shm files with the mode of the database file, so they are owner-only as well, whatever
 * the process's umask. `:memory:` and '' (temporary) are left alone.
 */
export function prepareOwnerOnlySqliteFile(filename: string): void {
  if (filename === ':memory:' || filename === '' || filename.startsWith('file:')) return;
  ensureOwnerOnlyDir(dirname(filename));
  closeSync(openSync(filename, 'a', OWNER_ONLY_FILE));
  for (const f of [filename, `${filename}-wal`, `${filename}-shm`, `${filename}-journal`]) {
    if (existsSync(f)) chmodSync(f, OWNER_ONLY_FILE);
  }
}
