import { randomUUID } from 'node:crypto';
import { EventStoreDBClient } from '@eventstore/db-client';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { email, request } from '../../test/requests';
import { EsdbIdentityRegistry } from './esdb-identity-registry';

/**
 * Two API instances on one server (the gRPC double), each with its own connection: what one changes
 * in the registry (merge, unmerge, erasure) the other follows through its subscription to the
 * registry streams, without a restart, and resolves batches from its index without reading.
 */
describe('identity registry on EventStoreDB (gRPC double): instances follow each other', () => {
  let server: EsdbDouble;
  let clients: EventStoreDBClient[];
  let a: EsdbIdentityRegistry;
  let b: EsdbIdentityRegistry;

  beforeEach(async () => {
    server = new EsdbDouble();
    const cs = await server.start();
    clients = [0, 1].map(() => EventStoreDBClient.connectionString(cs));
    [a, b] = clients.map((c) => new EsdbIdentityRegistry(c));
    await Promise.all([a.start(), b.start()]);
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
    await Promise.all(clients.map((c) => c.dispose()));
    server.stop();
  });

  /** B has applied everything A wrote (bounded: the subscription's delay, not a sleep) */
  const bFollowsA = async () => expect(await b.followedUpTo(a.lastWrittenPosition, 20_000)).toBe(true);

  /** resolves on B and counts the reads it cost */
  const resolveOnB = async (...identifiers: ReturnType<typeof email>[]) => {
    const reads = server.stats.reads;
    const [r] = await b.resolveBatch([request(...identifiers)]);
    return { ...r, reads: server.stats.reads - reads };
  };

  it('resolves to the survivor of a merge another instance made, from its index', async () => {
    const [x] = await a.resolveBatch([request(email('x'))]);
    const [y] = await a.resolveBatch([request(email('y'))]);
    await bFollowsA();
    expect(await resolveOnB(email('y'))).toMatchObject({ customerId: y.customerId, reads: 0 });

    const [m] = await a.resolveBatch([request(email('x'), email('y'))]);
    expect(m.customerId).toBe(x.customerId);
    await bFollowsA();
    expect(await resolveOnB(email('y'))).toMatchObject({ customerId: x.customerId, registered: false, reads: 0 });
    expect(await b.pendingMerges()).toEqual([expect.objectContaining({ survivorId: x.customerId, mergedIds: [y.customerId] })]);
  });

  it('after an unmerge on A, B resolves the split identifiers to the split customer and keeps the pair apart', async () => {
    const [ana] = await b.resolveBatch([request(email('ana'))]);
    const [ben] = await b.resolveBatch([request(email('ben'))]);
    const [both] = await b.resolveBatch([request(email('ana'), email('ben'))]);
    expect(both.customerId).toBe(ana.customerId);
    expect(await resolveOnB(email('ben'))).toMatchObject({ customerId: ana.customerId });

    await a.unmerge([
      {
        unmergeId: randomUUID(),
        survivorId: ana.customerId,
        splitId: ben.customerId,
        restoredIds: [],
        identifiers: [email('ben')],
        keptBySurvivor: [],
      },
    ]);
    await bFollowsA();
    expect(await resolveOnB(email('ben'))).toMatchObject({ customerId: ben.customerId, registered: false, reads: 0 });
    expect(await resolveOnB(email('ana'))).toMatchObject({ customerId: ana.customerId, reads: 0 });
    // both named again: not merged again, recorded on the earliest registered with the conflict
    const again = await resolveOnB(email('ana'), email('ben'));
    expect(again).toMatchObject({ customerId: ana.customerId, conflict: [ana.customerId, ben.customerId], merges: [] });
    expect(await b.canonicalId(ben.customerId)).toBe(ben.customerId);
  });

  it('after an erasure on A, B no longer resolves the erased identifiers to the erased customer', async () => {
    const [gone] = await b.resolveBatch([request(email('gone'), email('gone2'))]);
    expect(await resolveOnB(email('gone'))).toMatchObject({ customerId: gone.customerId, reads: 0 });

    expect(await a.forgetCustomers([gone.customerId], [email('gone'), email('gone2')])).toBe(2);
    await bFollowsA();
    const fresh = await resolveOnB(email('gone'));
    expect(fresh).toMatchObject({ registered: true, reads: 0 });
    expect(fresh.customerId).not.toBe(gone.customerId);
    // and A, which erased, agrees
    expect(await a.lookup(email('gone'))).toBe(fresh.customerId);
    expect(await a.lookup(email('gone2'))).toBeUndefined();
  });

  it('an instance started later catches up with the registry before it resolves', async () => {
    const [x] = await a.resolveBatch([request(email('early'))]);
    const [y] = await a.resolveBatch([request(email('early2'))]);
    await a.resolveBatch([request(email('early'), email('early2'))]);
    const late = new EsdbIdentityRegistry(clients[1]);
    try {
      await late.start();
      const reads = server.stats.reads;
      const [r1, r2] = await late.resolveBatch([request(email('early2')), request(email('early'))]);
      expect([r1.customerId, r2.customerId]).toEqual([x.customerId, x.customerId]);
      expect(server.stats.reads - reads).toBe(0);
      expect(y.customerId).not.toBe(x.customerId);
    } finally {
      await late.close();
    }
  });
});
