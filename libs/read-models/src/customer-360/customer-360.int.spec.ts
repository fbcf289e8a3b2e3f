import { join } from 'node:path';
import { dumpCustomer360 } from '../../../../test/support/read-side-harness';
import { customer360Recomputation } from '../contract/customer-360-recomputation';
import { writeCheckpoint } from '../projector/checkpoints';
import { openSqliteReadStore } from '../store/read-store';
import { customer360 } from '.';

const fileOf = (dir: string, name: string) => join(dir, `${name}.db`);

customer360Recomputation(
  'embedded SQLite',
  (loaded, name) => openSqliteReadStore(fileOf(loaded.dir, name)),
  (run) => {
    it('a rebuild from position 0 with other batch sizes gives byte-identical tables', async () => {
      const { loaded, log, project } = run();
      const expected = dumpCustomer360(fileOf(loaded.dir, 'main'));
      expect(expected.c360_timeline.split('\n')).toHaveLength(log.length);
      for (const [name, size] of [
        ['rebuild-1', 1],
        ['rebuild-97', 97],
      ] as const) {
        const again = await project(name, size);
        await again.close();
        expect(dumpCustomer360(fileOf(loaded.dir, name))).toEqual(expected);
      }
    }, 120_000);

    it('handled twice = handled once: events delivered again after their checkpoint change nothing', async () => {
      const { loaded, log, project } = run();
      const first = await project('redelivered', 300);
      await first.close();
      const before = dumpCustomer360(fileOf(loaded.dir, 'redelivered'));
      // the checkpoint goes back (as if the commit of it had been lost): the next run sees the
      // last 40% of the log a second time (same version: no rebuild)
      const store = await openSqliteReadStore(fileOf(loaded.dir, 'redelivered'));
      await writeCheckpoint(store.db, 'customer-360', log[Math.floor(log.length * 0.6)].position, customer360.version);
      await store.close();
      const second = await project('redelivered', 123);
      await second.close();
      expect(dumpCustomer360(fileOf(loaded.dir, 'redelivered'))).toEqual(before);
    }, 120_000);
  },
);
