import { describeWithPostgres, freshDatabase, type TestDatabase } from '../../../../test/support/postgres-test-env';
import { openReadStore } from '../store/open-read-store';
import { verifySuite } from '../contract/verify-read-models.contract';

describeWithPostgres('verify on PostgreSQL (the scratch copy in a schema of its own)', () => {
  let database: TestDatabase | undefined;
  verifySuite('PostgreSQL', {
    async open() {
      database = await freshDatabase();
      const location = { kind: 'postgres' as const, url: database.url };
      return { location, live: await openReadStore(location, { role: 'writer' }) };
    },
    cleanup: async () => database?.drop(),
  });
});
