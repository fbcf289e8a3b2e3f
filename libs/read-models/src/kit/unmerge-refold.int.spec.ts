import { openReadStore } from '../store/open-read-store';
import { unmergeRefoldSuite } from '../contract/unmerge-refold.contract';

unmergeRefoldSuite('embedded SQLite', {
  async open(dataDir) {
    const location = { kind: 'sqlite' as const, dataDir };
    return { location, live: await openReadStore(location, { role: 'writer' }) };
  },
});
