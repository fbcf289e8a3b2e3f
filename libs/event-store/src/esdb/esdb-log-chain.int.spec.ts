import { randomUUID } from 'node:crypto';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { EsdbEventStore } from './esdb-event-store';
import { CHAIN_STREAM, ChainSealConflictError, sealedHead, sealLog, verifySealedLog } from './esdb-log-chain';
import { exportLog } from '../chain/log-transfer';

/** The chain on EventStoreDB (gRPC double): sealed into its own stream, verified against the global log. */
describe('log chain on EventStoreDB (sealed by cem log seal)', () => {
  let server: EsdbDouble;
  let store: EsdbEventStore;
  beforeEach(async () => {
    server = new EsdbDouble();
    store = EsdbEventStore.connect(await server.start());
  });
  afterEach(async () => {
    await store.close();
    server.stop();
  });

  const appendSome = async (n: number) => {
    for (let i = 0; i < n; i++) await store.appendToStream(`s-${i % 4}`, [{ eventId: randomUUID(), type: 't.happened', data: { i } }]);
  };

  it('seals in pages, reports later events as not sealed yet, and gives the same head as an export computes', async () => {
    await appendSome(12);
    expect(await sealLog(store, { pageSize: 5 })).toMatchObject({ sealed: 12, head: { seq: 12 } });
    expect((await store.readStream(CHAIN_STREAM)).map((e) => e.revision)).toEqual([0, 1, 2]);
    await appendSome(3);
    const result = await verifySealedLog(store, { pageSize: 4 });
    expect(result).toMatchObject({ ok: true, head: { seq: 12 }, unsealed: 3 });
    expect(await sealLog(store)).toMatchObject({ sealed: 3, head: { seq: 15 } });
    expect(await verifySealedLog(store)).toMatchObject({ ok: true, head: { seq: 15 }, unsealed: 0 });
    // the sealed chain is the chain the export (and the embedded store after an import) computes
    const exported = await exportLog(store, () => undefined, { storeName: 'esdb', exportedAt: 'x' });
    expect(exported.head).toEqual(await sealedHead(store));
    // nothing new: nothing appended to the chain stream
    expect(await sealLog(store)).toMatchObject({ sealed: 0 });
    expect(await store.readStream(CHAIN_STREAM)).toHaveLength(4);
  });

  it('catches a sealed event gone from the log (e.g. a deleted stream, scavenged) at its position', async () => {
    await appendSome(10);
    await sealLog(store);
    const visible = await store.readAll();
    const gone = visible[6];
    server.log.splice(
      server.log.findIndex((e) => e.id === gone.eventId),
      1,
    );
    const result = await verifySealedLog(store, { pageSize: 3 });
    expect(result).toMatchObject({
      ok: false,
      problem: { kind: 'missing', beforePosition: visible[7].position, seqs: [7, 7] },
      verified: { seq: 6 },
    });
  });

  it('a second sealer racing the first cannot fork the chain', async () => {
    await appendSome(6);
    const [a, b] = await Promise.allSettled([sealLog(store, { pageSize: 2 }), sealLog(store, { pageSize: 2 })]);
    const failed = [a, b].filter((r) => r.status === 'rejected');
    for (const f of failed) expect((f as PromiseRejectedResult).reason).toBeInstanceOf(ChainSealConflictError);
    expect(await sealLog(store)).toMatchObject({ head: { seq: 6 } });
    expect(await verifySealedLog(store)).toMatchObject({ ok: true, head: { seq: 6 }, unsealed: 0 });
    const pages = (await store.readStream(CHAIN_STREAM)).map((e) => e.data as { fromSeq: number; toSeq: number });
    pages.forEach((p, i) => expect(p.fromSeq).toBe(i === 0 ? 1 : pages[i - 1].toSeq + 1));
  });
});
