import { EsdbDouble } from '../../../../test/support/esdb-double';
import { eventStoreContract } from '../contract/event-store.contract';
import { EsdbEventStore } from './esdb-event-store';

// The shared contract suite, unchanged, against the in-process gRPC double of EventStoreDB...
eventStoreContract('EventStoreDB adapter on the gRPC double', async () => {
  const server = new EsdbDouble();
  const connectionString = await server.start();
  return { store: EsdbEventStore.connect(connectionString), cleanup: async () => server.stop() };
});

// ...and against a real server when one is named.
const real = process.env.ESDB_CONNECTION_STRING;
if (real) {
  eventStoreContract(`EventStoreDB adapter on a real server (${real.replace(/\/\/[^@/]*@/, '//***@')})`, async () => ({
    store: EsdbEventStore.connect(real),
  }));
} else {
  const reason = 'ESDB_CONNECTION_STRING is not set (e.g. esdb://127.0.0.1:2113?tls=false, see infra/eventstoredb/docker-compose.yml)';
  console.log(`skipped: event store contract against a real EventStoreDB: ${reason}`);
  describe.skip(`event store contract: EventStoreDB adapter on a real server (skipped: ${reason})`, () => {
    it('needs ESDB_CONNECTION_STRING to run the contract against a real server', () => expect(real).toBeDefined());
  });
}
