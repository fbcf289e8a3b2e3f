import { describeWithPostgres, freshDatabase, type TestDatabase } from '../../../../test/support/postgres-test-env';
import { openReadStore } from '../store/open-read-store';
import { unmergeRefoldSuite } from '../contract/unmerge-refold.contract';

describeWithPostgres('unmerge on the PostgreSQL read store', () => {
  let database: TestDatabase | undefined;
  unmergeRefoldSuite('PostgreSQL', {
    async open() {
      database = await freshDatabase();
      const location = { kind: 'postgres' as const, url: database.url };
      return { location, live: await openReadStore(location, { role: 'writer' }) };
    },
    cleanup: async () => database?.drop(),
  });
});
