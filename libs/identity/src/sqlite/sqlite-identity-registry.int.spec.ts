import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identityRegistryContract } from '../contract/identity-registry.contract';
import { SqliteIdentityRegistry } from './sqlite-identity-registry';

// Each registry opens the same file, as separate processes would.
identityRegistryContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-idreg-'));
  return {
    open: () => new SqliteIdentityRegistry(join(dir, 'platform.db')),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
