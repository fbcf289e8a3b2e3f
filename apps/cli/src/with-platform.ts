import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';

/** Opens the configured platform for one command and always closes it. */
export async function withPlatform<T>(fn: (platform: Platform) => Promise<T> | T): Promise<T> {
  const platform = openPlatform(loadConfig());
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
}
