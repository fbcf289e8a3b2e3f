import { EventStoreDBClient } from '@eventstore/db-client';
import { identifierStream } from '@cem/event-store/esdb/naming';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { email, request } from '../../test/requests';
import { EsdbIdentityRegistry, registryCustomerStream } from './esdb-identity-registry';

/** The identity registry against the faults of a real server, produced by the gRPC double. */
describe.each([
  ['reading every stream it needs', false],
  ['following the registry through its subscription', true],
])('identity registry on EventStoreDB against server faults (gRPC double), %s', (_, followRegistry) => {
  let server: EsdbDouble;
  let clients: EventStoreDBClient[];
  let registries: EsdbIdentityRegistry[];
  /** a new registry on its own connection, as another API instance */
  const registry = () => {
    const c = EventStoreDBClient.connectionString(server.connectionString);
    clients.push(c);
    const reg = new EsdbIdentityRegistry(c, { followRegistry, maxAttempts: 5 });
    registries.push(reg);
    return reg;
  };

  beforeEach(async () => {
    server = new EsdbDouble();
    await server.start();
    clients = [];
    registries = [];
  });
  afterEach(async () => {
    await Promise.all(registries.map((r) => r.close()));
    await Promise.all(clients.map((c) => c.dispose()));
    server.stop();
  });

  it('resolves a claimed identifier to its owner while a follower lags behind (reads go to the leader)', async () => {
    server.freezeFollower(); // a follower that has not seen anything written from now on
    const [a] = await registry().resolveBatch([request(email('lag'))]);
    const [b] = await registry().resolveBatch([request(email('lag'))]);
    expect(b).toMatchObject({ customerId: a.customerId, registered: false });
  });

  it('refuses an identifier whose claim stream an operator soft-deleted, instead of giving it a second owner', async () => {
    const [a] = await registry().resolveBatch([request(email('deleted'))]);
    await clients[0].deleteStream(identifierStream('email:userdeleted@example.com'));
    const err = await registry()
      .resolveBatch([request(email('deleted'))])
      .catch((e) => e);
    expect(err).toMatchObject({ name: 'StoreRefusedError', reason: 'stream-deleted' });
    expect(err.message).not.toContain('userdeleted@example.com');
    expect(a.customerId).toBeDefined();
  });

  it('reports a merge whose write was committed and then answered "timed out"', async () => {
    const reg = registry();
    const [x] = await reg.resolveBatch([request(email('mx'))]);
    const [y] = await reg.resolveBatch([request(email('my'))]);
    // the merge's compare-and-set on the later customer lands, and is answered as timed out
    server.faults.commitThenTimeout = 1;
    server.faults.when = ({ streamName }) => streamName === registryCustomerStream(y.customerId);
    const [both] = await reg.resolveBatch([request(email('mx'), email('my'))]);
    expect(both.customerId).toBe(x.customerId);
    expect(both.merges).toEqual([expect.objectContaining({ survivorId: x.customerId, mergedIds: [y.customerId] })]);
    expect((await reg.pendingMerges()).map((m) => m.mergedIds)).toEqual([[y.customerId]]);
  });
});
