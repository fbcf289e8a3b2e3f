import { EventStoreDBClient, FORWARDS, START } from '@eventstore/db-client';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import type { ResolveRequest } from '../port';
import { email, request } from '../../test/requests';
import { EsdbIdentityRegistry, registryCustomerStream } from './esdb-identity-registry';

describe('identity registry on EventStoreDB (gRPC double), concurrent writers', () => {
  let server: EsdbDouble;
  let clients: EventStoreDBClient[];
  let registries: EsdbIdentityRegistry[];

  beforeEach(async () => {
    server = new EsdbDouble();
    const cs = await server.start();
    // one client per "API instance": each has its own connection to the shared server
    clients = [0, 1, 2, 3].map(() => EventStoreDBClient.connectionString(cs));
    registries = clients.map((c) => new EsdbIdentityRegistry(c));
  });
  afterEach(async () => {
    await Promise.all(registries.map((r) => r.close()));
    await Promise.all(clients.map((c) => c.dispose()));
    server.stop();
  });

  it('gives one new identifier one customer when many writers see it at once', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => registries[i % 4].resolveBatch([request(email('shared'))])));
    const ids = new Set(results.map((r) => r[0].customerId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r[0].registered)).toHaveLength(1);
    const [id] = ids;
    for (const reg of registries) expect(await reg.lookup(email('shared'))).toBe(id);
  });

  it('never splits a customer when writers race on overlapping identifier sets', async () => {
    const POOL = 12;
    // every request names a neighbouring pair, so the pool is one chain: one customer in the end
    const work = registries.map((reg, w) =>
      (async () => {
        const out = [];
        for (let i = 0; i < 24; i++) {
          const a = (i * 5 + w * 7) % POOL;
          const batch = [request(email(a), email((a + 1) % POOL)), request(email((a + 3) % POOL))];
          out.push(...(await reg.resolveBatch(batch)));
        }
        return out;
      })(),
    );
    const resolutions = (await Promise.all(work)).flat();

    const owners = await Promise.all(Array.from({ length: POOL }, (_, i) => registries[0].lookup(email(i))));
    expect(owners.every((o) => o !== undefined)).toBe(true);
    // requests chain every identifier to its neighbour: exactly one live customer owns them all
    expect(new Set(owners).size).toBe(1);
    const [survivor] = owners;
    // every customer any writer was ever told about leads to that survivor
    for (const r of resolutions) expect(await registries[1].canonicalId(r.customerId)).toBe(survivor);

    // every merged-away customer is in a logged merge, and merges only ever go to earlier registrations
    const pending = await registries[2].pendingMerges();
    expect(pending.length).toBeGreaterThan(0);
    const mergedInLog = new Set(pending.flatMap((m) => m.mergedIds));
    const registered = await registeredCustomers(clients[0]);
    const answered = new Set(resolutions.map((r) => r.customerId));
    for (const id of registered) {
      // a writer whose index had not yet seen another's claim registers a customer and loses every
      // claim: that registration stays unused (no identifier, no resolution names it); any other is merged
      if (id !== survivor && !mergedInLog.has(id)) expect(answered.has(id)).toBe(false);
    }
    expect(new Set(pending.map((m) => m.mergeId)).size).toBe(pending.length);
    // the merges the resolutions reported are the ones logged
    const reported = new Set(resolutions.flatMap((r) => r.merges.map((m) => m.mergeId)));
    expect([...reported].sort()).toEqual(pending.map((m) => m.mergeId).sort());

    await registries[3].confirmMerges(pending.map((m) => m.mergeId));
    expect(await registries[0].pendingMerges()).toEqual([]);
  }, 60_000);

  it('merges into the earliest registered customer and reports it with its evidence', async () => {
    const [reg] = registries;
    const [a] = await reg.resolveBatch([request(email('a'))]);
    const [b] = await reg.resolveBatch([request(email('b'))]);
    const req = request(email('b'), email('a'), email('c'));
    const [m] = await reg.resolveBatch([req]);
    expect(m.customerId).toBe(a.customerId);
    expect(m.registered).toBe(false);
    expect(m.merges).toEqual([
      expect.objectContaining({
        survivorId: a.customerId,
        mergedIds: [b.customerId],
        evidence: expect.objectContaining({
          identifiers: ['email:usera@example.com', 'email:userb@example.com'],
          triggeringEventId: req.triggeringEventId,
        }),
      }),
    ]);
    expect(await reg.lookup(email('c'))).toBe(a.customerId);
    expect(await reg.canonicalId(b.customerId)).toBe(a.customerId);
    expect(await reg.canonicalId('never-issued')).toBeUndefined();
    expect(await reg.lookup(email('nobody'))).toBeUndefined();
  });

  it('resolves large batches that name the same customers again (remembered within the batch) while others merge them', async () => {
    const POOL = 20;
    // writers 0 and 1 follow the registry (resolve from their index), 2 and 3 read everything afresh
    const regs = clients.map((c, i) => new EsdbIdentityRegistry(c, i < 2 ? {} : { followRegistry: false }));
    registries.push(...regs);
    const work = regs.map((reg, w) =>
      (async () => {
        const out = [];
        for (let i = 0; i < 8; i++) {
          const batch: ResolveRequest[] = [];
          for (let j = 0; j < 12; j++) {
            const a = (i * 7 + j * 3 + w * 5) % POOL;
            // the same few identifiers over and over in one batch, and pairs that merge customers
            batch.push(j % 3 === 0 ? request(email(a), email((a + 1) % POOL)) : request(email(a % 4 === 0 ? a : (a + 2) % POOL)));
          }
          out.push(...(await reg.resolveBatch(batch)));
        }
        return out;
      })(),
    );
    const resolutions = (await Promise.all(work)).flat();
    const owners = await Promise.all(Array.from({ length: POOL }, (_, i) => regs[3].lookup(email(i))));
    expect(owners.every((o) => o !== undefined)).toBe(true);
    expect(new Set(owners).size).toBe(1);
    const [survivor] = owners;
    for (const r of resolutions) expect(await regs[2].canonicalId(r.customerId)).toBe(survivor);
    const pending = await regs[0].pendingMerges();
    const mergedInLog = new Set(pending.flatMap((m) => m.mergedIds));
    // every customer a writer answered with is the survivor or merged into it in the log; a writer that
    // registered a customer and then lost every claim leaves that registration unused (it owns no
    // identifier, every lookup above answered the survivor, and no resolution named it)
    const answered = new Set(resolutions.map((r) => r.customerId));
    for (const id of answered) if (id !== survivor) expect(mergedInLog.has(id)).toBe(true);
    // every writer answers the same afterwards, remembering or not
    for (const reg of regs) expect(await reg.lookup(email(7))).toBe(survivor);
  }, 60_000);
});

/** Customer ids with a registry stream, read from the server's global log. */
async function registeredCustomers(client: EventStoreDBClient): Promise<string[]> {
  const prefix = registryCustomerStream('');
  const ids = new Set<string>();
  for await (const r of client.readAll({ direction: FORWARDS, fromPosition: START, maxCount: 1_000_000 })) {
    if (r.event?.streamId.startsWith(prefix)) ids.add(r.event.streamId.slice(prefix.length));
  }
  return [...ids];
}
