import { isMainThread } from 'node:worker_threads';
import { ConfigError } from './config';

/** The umask every process runs with: the files it creates (data, imports, logs) are owner-only. */
export const PROCESS_UMASK = 0o077;

/**
 * Runs a process's configuration loading at boot (every app's main calls it first). It sets the
 * owner-only umask (077) before anything opens a file: the data files hold key hashes, identifiers
 * and personal data (the stores also create their files 0600 themselves, for tests and embedded
 * use). On a ConfigError it prints every problem to
 * stderr, prefixed with the process name, and exits with 2 before anything connects. Any other
 * error is thrown on.
 *
 *   const config = loadOrExit('projector', () => loadConfig());
 *   const { app, kafka } = loadOrExit('kafka-ingest', () => { const app = loadConfig(); return { app, kafka: kafkaIngestConfig(app) }; });
 */
export function loadOrExit<T>(processName: string, load: () => T): T {
  if (isMainThread) process.umask(PROCESS_UMASK); // a worker thread may not change the process's umask
  try {
    return load();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${processName}: ${e.message}\n`);
    return process.exit(2);
  }
}
