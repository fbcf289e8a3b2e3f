import { loadConfig, loadOrExit, type AppConfig } from '@cem/config';

let loaded: AppConfig | undefined;

/**
 * The platform configuration for this CLI run: validated once, before the first command runs (see
 * the preAction hook in main.ts); an invalid one prints every problem and exits with 2.
 */
export function cliConfig(): AppConfig {
  loaded ??= loadOrExit('cem', () => loadConfig());
  return loaded;
}
