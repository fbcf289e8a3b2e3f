import { randomBytes } from 'node:crypto';
import { EventStoreDBClient } from '@eventstore/db-client';
import { blindIdentifierIndex, type IdentifierIndex } from '@cem/domain';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { identityRegistryContract, type IdentityRegistryFixture } from '../contract/identity-registry.contract';
import { EsdbIdentityRegistry } from './esdb-identity-registry';

/** Registries on one server, each with its own client (its own connection), as separate API instances. */
function registriesOn(connectionString: string, stop?: () => void, index?: IdentifierIndex): IdentityRegistryFixture {
  const clients: EventStoreDBClient[] = [];
  return {
    index,
    open: () => {
      const client = EventStoreDBClient.connectionString(connectionString);
      clients.push(client);
      return new EsdbIdentityRegistry(client, { index });
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

// ...keyed by the blind index (privacy on)...
identityRegistryContract('EventStoreDB on the gRPC double, blind index', async () => {
  const server = new EsdbDouble();
  return registriesOn(await server.start(), () => server.stop(), blindIdentifierIndex(randomBytes(32)));
});

// ...and against a real server when one is named (plain and blind: each test names fresh identifiers).
const real = process.env.ESDB_CONNECTION_STRING;
if (real) {
  const shown = real.replace(/\/\/[^@/]*@/, '//***@');
  identityRegistryContract(`EventStoreDB on a real server (${shown})`, async () => registriesOn(real));
  identityRegistryContract(`EventStoreDB on a real server (${shown}), blind index`, async () =>
    registriesOn(real, undefined, blindIdentifierIndex(randomBytes(32))),
  );
} else {
  console.warn('ESDB_CONNECTION_STRING is not set: the identity registry contract runs on the gRPC double only');
}
