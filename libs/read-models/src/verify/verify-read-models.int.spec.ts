import { openReadStore } from '../store/open-read-store';
import { verifySuite } from '../contract/verify-read-models.contract';

verifySuite('embedded SQLite', {
  async open(dataDir) {
    const location = { kind: 'sqlite' as const, dataDir };
    return { location, live: await openReadStore(location, { role: 'writer' }) };
  },
});
