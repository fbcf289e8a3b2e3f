import { EventStoreDBClient } from '@eventstore/db-client';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { identityRegistryContract } from '../contract/identity-registry.contract';
import { EsdbIdentityRegistry } from './esdb-identity-registry';

// The shared contract suite against the in-process gRPC double of EventStoreDB: each registry has its
// own client (its own connection), as separate API instances would...
identityRegistryContract('EventStoreDB on the gRPC double', async () => {
  const server = new EsdbDouble();
  const connectionString = await server.start();
  const clients: EventStoreDBClient[] = [];
  return {
    open: () => {
      const client = EventStoreDBClient.connectionString(connectionString);
      clients.push(client);
      return new EsdbIdentityRegistry(client);
    },
    cleanup: async () => {
      await Promise.all(clients.map((c) => c.dispose()));
      server.stop();
    },
  };
});

// ...and against a real server when one is named.
const real = process.env.ESDB_CONNECTION_STRING;
if (real) {
  identityRegistryContract(`EventStoreDB on a real server (${real.replace(/\/\/[^@/]*@/, '//***@')})`, async () => {
    const clients: EventStoreDBClient[] = [];
    return {
      open: () => {
        const client = EventStoreDBClient.connectionString(real);
        clients.push(client);
        return new EsdbIdentityRegistry(client);
      },
      cleanup: async () => {
        await Promise.all(clients.map((c) => c.dispose()));
      },
    };
  });
}
