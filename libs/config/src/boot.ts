import { ConfigError } from './config';

/**
 * Runs a process's configuration loading at boot: on a ConfigError it prints every problem to
 * stderr, prefixed with the process name, and exits with 2 before anything connects. Any other
 * error is thrown on.
 *
 *   const config = loadOrExit('projector', () => loadConfig());
 *   const { app, kafka } = loadOrExit('kafka-ingest', () => { const app = loadConfig(); return { app, kafka: kafkaIngestConfig(app) }; });
 */
export function loadOrExit<T>(processName: string, load: () => T): T {
  try {
    return load();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${processName}: ${e.message}\n`);
    return process.exit(2);
  }
}
