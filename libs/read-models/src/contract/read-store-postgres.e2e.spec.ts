import { describeWithPostgres, freshDatabase, type TestDatabase } from '../../../../test/support/postgres-test-env';
import { openPostgresReadStore } from '../store/postgres-read-store';
import { readStoreContract } from './read-store.contract';

describeWithPostgres('PostgreSQL read store', () => {
  const databases: TestDatabase[] = [];
  readStoreContract('PostgreSQL', {
    async open() {
      const db = await freshDatabase();
      databases.push(db);
      return openPostgresReadStore(db.url, { poolSize: 4 });
    },
    async cleanup() {
      for (const db of databases.splice(0)) await db.drop();
    },
  });
});
