import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventStoreContract } from '../contract/event-store.contract';
import { SqliteEventStore } from './sqlite-event-store';

eventStoreContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-es-'));
  return { store: new SqliteEventStore(join(dir, 'events.db'), { synchronous: 'NORMAL' }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
