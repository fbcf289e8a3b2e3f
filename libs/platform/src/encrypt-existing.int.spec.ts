import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsdbEventStore, SqliteEventStore, verifyLog } from '@cem/event-store';
import { EsdbDouble } from '../../../test/support/esdb-double';
import { startProjector } from '@cem/read-models/projector/projector.module';
import { openSqliteReadStore } from '@cem/read-models/store/read-store';
import { dumpCustomer360 } from '../../../test/support/read-side-harness';
import { Customer360Queries } from '@cem/read-models/customer-360/customer-360.query';
import { storedValuesOfStore } from '@cem/read-models/projector/projection';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { bytesOf, openTestPlatform, personaHistory, privacyKeys } from '../../../test/support/platform-harness';
import { EncryptExistingRefusedError, encryptExistingAction } from './encrypt-existing';
import { type Platform } from './platform';

const PERSONA = personaHistory({
  email: 'wouter.brinkman@example.com',
  phone: '+31611122233',
  firstName: 'Wouter',
  lastName: 'Brinkman',
  street: 'Dorpsstraat 5',
  notes: 'the modem blinks red',
  comment: 'never again this courier',
});
const { email: EMAIL, phone: PHONE, secrets: SECRETS, found } = PERSONA;
const actor = { kind: 'named' as const, name: 'test' };

describe('cem encrypt-existing (embedded store)', () => {
  let dir: string;
  let platform: Platform | undefined;
  const privacy = privacyKeys();
  const open = (env: Record<string, string> = {}) => (platform = openTestPlatform(dir, env));
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'cem-encrypt-existing-'))));
  afterEach(async () => {
    await platform?.close();
    platform = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Wouter by email (notes), by phone (a purchase), one event naming both (merge, profile), a survey comment; more events. */
  async function history(p: Platform) {
    await PERSONA.ingest(p);
    for (let i = 0; i < 4; i++) await p.ingestion.ingest([envelope()]);
  }

  async function project(p: Platform, name: string) {
    const readStore = await openSqliteReadStore(join(dir, `${name}.db`));
    const running = await startProjector({ store: p.store, db: readStore.db, readStore, batchSize: 100 });
    expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    // the 360 as served: with privacy on its documents and timeline hold the identifiers sealed
    const queries = new Customer360Queries(readStore.db as never, () => TEST_NOW, undefined, storedValuesOfStore(p.store));
    const ids = (await readStore.db.selectFrom('c360_customers').select('customer_id').orderBy('customer_id').execute()).map(
      (r) => r.customer_id,
    );
    const served = await Promise.all(ids.map(async (id) => [await queries.byId(id), await queries.timeline(id, { limit: 500 })]));
    await running.close();
    await readStore.close();
    return { served, stored: dumpCustomer360(join(dir, `${name}.db`)) };
  }
  /** what readers get, without what encryption adds to the metadata */
  const readable = async (p: Platform) =>
    (await p.store.readAll())
      .filter((e) => e.streamId !== 'cem-ops')
      .map((e) => {
        const { keyId: _k, contentDigest: _c, ...metadata } = e.metadata as Record<string, unknown>;
        return { ...e, metadata };
      });

  it('seals the plaintext of older events, keeps ids and positions, read models and the verified chain; resumable', async () => {
    const plain = open();
    await history(plain);
    const before = await readable(plain);
    const c360Before = await project(plain, 'before');
    await plain.close();
    expect(found(bytesOf(dir, 'events.db'))).toEqual(SECRETS);

    const p = open(privacy);
    await p.checkStore(); // records where the plaintext ends
    const log = p.logStore as SqliteEventStore;
    const headBefore = log.chainHead();

    // killed half way: the second page fails after the first was re-written
    const sealer = p.store as never as { seal: (...a: unknown[]) => Promise<unknown> };
    const original = sealer.seal.bind(sealer);
    let calls = 0;
    const seal = jest.spyOn(sealer, 'seal').mockImplementation(async (...args: unknown[]) => {
      if (++calls === 2) throw new Error('killed');
      return original(...args);
    });
    await expect(encryptExistingAction(p, { actor, batchSize: 2 })).rejects.toThrow('killed');
    seal.mockRestore();
    expect((await verifyLog(log)).ok).toBe(false); // re-written rows, chain not yet recomputed
    expect(await readable(p)).toEqual(before); // but everything reads as before

    const progress: string[] = [];
    const report = await encryptExistingAction(p, { actor, batchSize: 2, onProgress: (x) => progress.push(x.phase) });
    expect(report).toMatchObject({ resumed: true, scrubbed: 0, headBefore: { seq: headBefore.seq, hash: headBefore.hash } });
    expect(report.encrypted).toBeGreaterThan(0);
    expect(report.headAfter.seq).toBe(headBefore.seq + 1); // the failed run's ops event came after
    expect(report.headAfter.hash).not.toBe(headBefore.hash);
    expect(progress).toEqual(expect.arrayContaining(['encrypt', 'rechain']));

    expect(found(bytesOf(dir, 'events.db'))).toEqual([]);
    const verified = await verifyLog(log);
    expect(verified.ok).toBe(true);
    const after = await readable(p);
    expect(after).toEqual(before); // same ids, positions, streams, revisions, times and readable content
    // the customer 360 rebuilt from the re-written log equals the one built before; only its identifier
    // index is keyed by the blind index now (privacy is on), for the same customers
    const projectedAfter = await project(p, 'after');
    expect(projectedAfter.served).toEqual(c360Before.served);
    const { c360_identifiers: idsAfter, ...storedAfter } = projectedAfter.stored;
    const idsBefore = c360Before.stored.c360_identifiers;
    expect([EMAIL, PHONE].filter((s) => JSON.stringify(storedAfter).includes(s))).toEqual([]);
    const rows = (text: string) => text.split('\n').map((l) => JSON.parse(l) as [string, string, string]);
    const rekeyed = rows(idsBefore).map(([kind, value, customer]) => [
      kind,
      p.identifierIndex.keyOf({ kind: kind as 'email', value }).slice(kind.length + 1),
      customer,
    ]);
    expect(rows(idsAfter).sort()).toEqual(rekeyed.sort());

    const ops = (await p.logStore.readAll())
      .filter((e) => e.type === 'ops.action-performed')
      .map((e) => e.data as { action: string; result: string });
    expect(ops.filter((o) => o.action === 'encrypt-existing').map((o) => o.result)).toEqual(['failed', 'ok']);

    // a second run finds nothing left to do and leaves the chain as it is
    const again = await encryptExistingAction(p, { actor });
    expect(again).toMatchObject({ encrypted: 0, scrubbed: 0, resumed: false });
    expect((await verifyLog(log)).ok).toBe(true);
  }, 120_000);

  it('refuses without encryption, naming the configuration, and changes nothing', async () => {
    const p = open();
    await history(p);
    const head = await p.logStore.headPosition();
    await expect(encryptExistingAction(p, { actor })).rejects.toThrow(EncryptExistingRefusedError);
    await expect(encryptExistingAction(p, { actor })).rejects.toMatchObject({ field: 'configuration', code: 'not-available' });
    // only the two refusals were recorded (ops events)
    expect(await p.logStore.headPosition()).toBe(head + 2);
  });

  it('refuses on EventStoreDB (append-only streams: the documented procedure), changing nothing', async () => {
    const server = new EsdbDouble();
    const esdb = EsdbEventStore.connect(await server.start());
    try {
      const p = openTestPlatform(dir, privacy, { store: esdb });
      platform = p;
      await p.ingestion.ingest([envelope()]);
      const customerEvents = () => JSON.stringify(server.log.filter((e) => e.streamName.startsWith('customer-')));
      const before = customerEvents();
      await expect(encryptExistingAction(p, { actor })).rejects.toMatchObject({ field: 'EVENT_STORE', code: 'not-available' });
      await expect(encryptExistingAction(p, { actor })).rejects.toThrow(/docs\/privacy.md/);
      // no customer event was touched (the refusals are ops events)
      expect(customerEvents()).toBe(before);
      expect(before).toContain('customer-');
    } finally {
      await platform?.close();
      platform = undefined;
      server.stop();
    }
  });
});
