import { describeWithPostgres, freshDatabase, type TestDatabase } from '../../../../test/support/postgres-test-env';
import { customer360Recomputation } from '../contract/customer-360-recomputation';
import { openPostgresReadStore } from '../store/postgres-read-store';

describeWithPostgres('customer 360 on PostgreSQL', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  }, 120_000);
  customer360Recomputation('PostgreSQL', async () => {
    const db = await freshDatabase();
    databases.push(db);
    return openPostgresReadStore(db.url, { poolSize: 4 });
  });
});
