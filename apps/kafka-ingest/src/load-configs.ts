import { ConfigError as PlatformConfigError, loadConfig, type AppConfig } from '@cem/config';
import { ConfigError } from './config';

/**
 * Validates the platform's configuration and a process's own, reporting every problem of both at
 * once, then exits with 2 if there is any: nothing connects on a half-valid configuration.
 */
export function loadConfigsOrExit<T>(processName: string, loadOwn: () => T): { appConfig: AppConfig; config: T } {
  const problems: string[] = [];
  const load = <R>(fn: () => R): R | undefined => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ConfigError || e instanceof PlatformConfigError) problems.push(...e.problems);
      else throw e;
      return undefined;
    }
  };
  const appConfig = load(() => loadConfig());
  const config = load(loadOwn);
  if (!appConfig || config === undefined) {
    process.stderr.write(`${processName}: invalid configuration:\n  - ${problems.join('\n  - ')}\n`);
    process.exit(2);
  }
  return { appConfig, config };
}
