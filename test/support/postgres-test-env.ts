import { TEST_DATABASE_URL } from './postgres-databases';

export { freshDatabase, TEST_DATABASE_URL, type TestDatabase } from './postgres-databases';

/**
 * `describe` for tests that need a real PostgreSQL. Without DATABASE_URL: with CI=true the suite
 * fails loudly; otherwise it is skipped with the reason printed. With DATABASE_URL set, an
 * unreachable server fails the tests (it was asked for).
 */
export function describeWithPostgres(name: string, body: () => void): void {
  if (TEST_DATABASE_URL) return describe(name, body);
  const reason = 'DATABASE_URL is not set; start a server with infra/postgres/start.sh and export the DATABASE_URL it prints';
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs a PostgreSQL server (CI=true)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  process.stderr.write(`\n[postgres] SKIPPED "${name}": ${reason}\n`);
  describe.skip(name, body);
}
