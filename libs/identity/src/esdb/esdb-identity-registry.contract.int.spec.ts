import { EventStoreDBClient } from '@eventstore/db-client';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { identityRegistryContract, type IdentityRegistryFixture } from '../contract/identity-registry.contract';
import { EsdbIdentityRegistry } from './esdb-identity-registry';

/** Registries on one server, each with its own client (its own connection), as separate API instances. */
function registriesOn(connectionString: string, stop?: () => void): IdentityRegistryFixture {
  const clients: EventStoreDBClient[] = [];
  return {
    open: () => {
      const client = EventStoreDBClient.connectionString(connectionString);
      clients.push(client);
      return new EsdbIdentityRegistry(client);
    },
    cleanup: async () => {
      await Promise.all(clients.map((c) => c.dispose()));
      stop?.();
    },
  };
}

// The shared contract suite against the in-process gRPC double of EventStoreDB...
identityRegistryContract('EventStoreDB on the gRPC double', async () => {
  const server = new EsdbDouble();
  return registriesOn(await server.start(), () => server.stop());
});

// ...and against a real server when one is named.
const real = process.env.ESDB_CONNECTION_STRING;
if (real) {
  identityRegistryContract(`EventStoreDB on a real server (${real.replace(/\/\/[^@/]*@/, '//***@')})`, async () => registriesOn(real));
}
