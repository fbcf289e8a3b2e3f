import { openPlatform, type Platform } from '@cem/platform';
import { cliConfig } from './cli-config';

/** Opens the configured platform for one command and always closes it. */
export async function withPlatform<T>(fn: (platform: Platform) => Promise<T> | T): Promise<T> {
  const platform = openPlatform(cliConfig());
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
}
