import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteReadStore } from '../store/read-store';
import { readStoreContract } from './read-store.contract';

const dir = mkdtempSync(join(tmpdir(), 'cem-rs-'));
let n = 0;
readStoreContract('embedded SQLite', {
  open: () => openSqliteReadStore(join(dir, `store-${++n}.db`)),
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
