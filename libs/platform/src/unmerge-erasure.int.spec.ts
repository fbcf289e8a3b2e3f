import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { customerStreamId } from '@cem/domain';
import { RESEALED_STREAM } from '@cem/privacy';
import { READ_MODELS } from '@cem/read-models';
import { readCustomerLog } from '@cem/read-models/audit/customer-log';
import { Customer360Queries } from '@cem/read-models/customer-360/customer-360.query';
import { storedValuesOfStore } from '@cem/read-models/projector/projection';
import { startProjector } from '@cem/read-models/projector/projector.module';
import { openReadStore, READ_MODELS_FILE } from '@cem/read-models/store/open-read-store';
import { verifyReadModels } from '@cem/read-models/verify/verify-read-models';
import { EsdbDouble } from '../../../test/support/esdb-double';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { eraseCustomer } from './erasure';
import { openPlatform, type Platform } from './platform';
import { exportSubject } from './subject-export';
import { unmergeCustomer } from './unmerge';

const ANA = { kind: 'email', value: 'ana.reseal@example.com' };
const ANA_NOTE = 'ana asked about her invoice';
const BEN = { kind: 'email', value: 'ben.reseal@example.com' };
const BEN_PHONE = { kind: 'phone', value: '+31687654321' };
/** Ben's personal values that reach the log only through the merged identity, after the merge */
const BEN_LATER = ['Bernhard', 'Vossenberg', 'the parcel was left in the rain', 'my router keeps rebooting'];
/** every personal value of Ben: the identifiers he brought and what came after the merge */
const BEN_ALL = [BEN.value, BEN_PHONE.value, ...BEN_LATER];
const ops = { kind: 'named' as const, name: 'privacy-officer' };
const privacy = { PRIVACY_MASTER_KEY: randomBytes(32).toString('base64'), PRIVACY_INDEX_SECRET: randomBytes(32).toString('base64') };

/**
 * What an unmerge re-attributes belongs to the customer split off, cryptographically
 * (docs/identity.md, "Unmerge and erasure"): erasing the split customer leaves none of those values
 * readable anywhere; erasing the survivor leaves them to the split customer; and the read models
 * projected live through all of it equal a rebuild. On the embedded store and on EventStoreDB (the
 * gRPC double).
 */
describe.each(['embedded store', 'EventStoreDB double'] as const)('unmerge, then erasure (%s)', (kind) => {
  let dir: string;
  let server: EsdbDouble | undefined;
  let platform: Platform;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cem-unmerge-erasure-'));
    let esdb = {};
    if (kind === 'EventStoreDB double') {
      server = new EsdbDouble();
      esdb = { EVENT_STORE: 'esdb', ESDB_CONNECTION_STRING: await server.start() };
    }
    platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent', ...privacy, ...esdb }), {
      now: () => TEST_NOW,
    });
  });
  afterEach(async () => {
    await platform.close();
    server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Ana, and Ben (email, phone) merged into her by a family event; then, through Ben's identifiers
   * only, his name, a survey comment and a contact note: the events the unmerge re-attributes to him.
   */
  async function mergedThenBensEvents() {
    const [ana] = await platform.ingestion.ingest([
      envelope({ customer: { identifiers: [ANA] }, data: { direction: 'inbound', handleSeconds: 30, resolved: true, notes: ANA_NOTE } }),
    ]);
    const [ben] = await platform.ingestion.ingest([
      envelope({ type: 'web.visited', customer: { identifiers: [BEN, BEN_PHONE] }, data: { url: 'https://shop.example.com/' } }),
    ]);
    await platform.ingestion.ingest([
      envelope({ type: 'web.visited', customer: { identifiers: [ANA, BEN] }, data: { url: 'https://x.example/' } }),
    ]);
    expect(await platform.registry.canonicalId(ben.customerId)).toBe(ana.customerId);
    const later = await platform.ingestion.ingest([
      envelope({ type: 'profile.updated', customer: { identifiers: [BEN] }, data: { firstName: 'Bernhard', lastName: 'Vossenberg' } }),
      envelope({
        type: 'survey.answered',
        schemaVersion: 2,
        customer: { identifiers: [BEN_PHONE] },
        data: { nps: 3, comment: 'the parcel was left in the rain' },
      }),
      envelope({
        customer: { identifiers: [BEN, BEN_PHONE] },
        data: { direction: 'inbound', handleSeconds: 90, resolved: false, notes: 'my router keeps rebooting' },
      }),
    ]);
    for (const r of later) expect(r.customerId).toBe(ana.customerId);
    return { survivorId: ana.customerId, splitId: ben.customerId, laterIds: later.map((r) => r.eventId) };
  }

  const unmerge = (survivorId: string, split: { customerId: string; identifiers?: string[] }) =>
    unmergeCustomer(platform, { customerId: survivorId, splits: [split], reason: 'CASE-RESEAL', requestedBy: ops });
  const erase = (customerId: string) => eraseCustomer(platform, { customerId, reason: 'DSR-RESEAL', requestedBy: ops });

  /** The read models projected live (started before the unmerge, so the merge is folded first), with a rebuild check at the end. */
  async function liveReadModels() {
    const location = { kind: 'sqlite' as const, dataDir: dir };
    const live = await openReadStore(location, { role: 'writer' });
    const running = await startProjector({ store: platform.store, db: live.db, readStore: live, dataDir: dir, batchSize: 100 });
    const caughtUp = async () => expect(await running.projector.whenCaughtUpToHead(60_000)).toBe(true);
    await caughtUp();
    return {
      caughtUp,
      /** the 360 as the API answers it (identifiers opened) */
      queries: new Customer360Queries(live.db as never, () => TEST_NOW, platform.identifierIndex, storedValuesOfStore(platform.store)),
      /** the 360 document and the timeline rows of a customer, as stored (identifiers in them sealed) */
      stored(customerId: string) {
        const db = new Database(join(dir, READ_MODELS_FILE), { readonly: true });
        try {
          const doc = (db.prepare('SELECT doc FROM c360_customers WHERE customer_id = ?').get(customerId) as { doc: string }).doc;
          const timeline = db.prepare('SELECT data FROM c360_timeline WHERE customer_id = ? ORDER BY position').all(customerId);
          return `${doc}\n${JSON.stringify(timeline)}`;
        } finally {
          db.close();
        }
      },
      async equalToRebuild() {
        await caughtUp();
        const verdicts = await verifyReadModels({
          store: platform.store,
          location,
          live,
          readModels: READ_MODELS,
          dataDir: dir,
          batchSize: 3,
        });
        expect(verdicts.map((v) => [v.readModel, v.status])).toEqual(READ_MODELS.map((m) => [m.name, 'equal']));
      },
      async close() {
        await running.close();
        await live.close();
      },
    };
  }

  /** The values of `secrets` in what the stores hold: the data directory's files (WAL included) and the EventStoreDB double's log. */
  function inStoredBytes(secrets: string[]): string[] {
    const files = Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
    const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
    const esdb = (server?.log ?? []).map((e) => `${e.streamName}\n${text(e.data)}\n${text(e.customMetadata)}`).join('\n');
    return secrets.filter((s) => files.includes(Buffer.from(s)) || esdb.includes(s));
  }
  const readable = (secrets: string[], value: unknown) => secrets.filter((s) => JSON.stringify(value).includes(s));

  it('erasing the split customer leaves none of its re-attributed values readable: log readers, audit, as-of, export, read models, stored bytes', async () => {
    const models = await liveReadModels();
    try {
      const { survivorId, splitId, laterIds } = await mergedThenBensEvents();
      await models.caughtUp();
      const result = await unmerge(survivorId, { customerId: splitId });
      expect(result.unmerged[0].reattributedEventIds.sort()).toEqual([...laterIds].sort());
      // the copy is sealed with Ben's key, and the unmerge's own record of the identifiers moved too
      const copy = (await platform.logStore.readStream(RESEALED_STREAM))[0];
      const unmerged = (await platform.logStore.readStream(customerStreamId(survivorId))).find((e) => e.type === 'customers.unmerged')!;
      const keyOf = async (id: string) => (await platform.keys!.keysOfCustomers([id])).get(id);
      const bensKey = await keyOf(splitId);
      expect([copy.metadata.keyId, unmerged.metadata.keyId]).toEqual([
        bensKey !== 'destroyed' && bensKey?.keyId,
        bensKey !== 'destroyed' && bensKey?.keyId,
      ]);
      await models.caughtUp();
      // before the erasure Ben's log holds them (the export too)
      expect(readable(BEN_LATER, await readCustomerLog(platform.store, splitId))).toEqual(BEN_LATER);

      await erase(splitId);
      await models.caughtUp();
      const asOfBeforeUnmerge = Date.parse(unmerged.recordedAt) - 1;
      const answers = {
        wholeLog: await platform.store.readAll(),
        bensLog: await readCustomerLog(platform.store, splitId),
        anasLog: await readCustomerLog(platform.store, survivorId),
        anasLogBeforeTheUnmerge: await readCustomerLog(platform.store, survivorId, { recordedBy: asOfBeforeUnmerge }),
        bensExport: await exportSubject(platform, { customerId: splitId }),
        anasExport: await exportSubject(platform, { customerId: survivorId }),
        bens360: models.stored(splitId),
        anas360: models.stored(survivorId),
      };
      expect(Object.entries(answers).map(([name, v]) => [name, readable(BEN_ALL, v)])).toEqual(Object.keys(answers).map((n) => [n, []]));
      // Ana keeps hers
      expect(readable([ANA_NOTE], answers.anasLog)).toEqual([ANA_NOTE]);
      expect(await platform.registry.lookup(ANA as never)).toBe(survivorId);
      expect(inStoredBytes(BEN_ALL)).toEqual([]);
      await models.equalToRebuild();
    } finally {
      await models.close();
    }
  }, 120_000);

  it("erasing the survivor leaves the split customer's re-attributed values to it, readable everywhere it is shown", async () => {
    const models = await liveReadModels();
    try {
      const { survivorId, splitId } = await mergedThenBensEvents();
      await unmerge(survivorId, { customerId: splitId });
      await erase(survivorId);
      await models.caughtUp();
      const bensLog = await readCustomerLog(platform.store, splitId);
      expect(readable(BEN_ALL, bensLog)).toEqual(BEN_ALL);
      const exported = await exportSubject(platform, { identifier: `email:${BEN.value}` });
      expect(exported.subject.customerId).toBe(splitId);
      expect(readable(BEN_ALL, exported)).toEqual(BEN_ALL);
      // the unmerge's record still tells what moved: Ben's identifiers (keyed as the registry keys them)
      const unmerged = (await platform.store.readStream(customerStreamId(survivorId))).find((e) => e.type === 'customers.unmerged')!;
      expect((unmerged.data as { identifiers: string[] }).identifiers).toEqual(
        [BEN, BEN_PHONE].map((i) => platform.identifierIndex.keyOf(i as never)).sort(),
      );
      // the 360 keeps Ben's name and the free text of his re-attributed events (identifiers are stored sealed)
      expect(readable(BEN_LATER, models.stored(splitId))).toEqual(BEN_LATER);
      expect(await platform.registry.lookup(BEN as never)).toBe(splitId);
      // Ana's own values are gone
      expect(readable([ANA_NOTE, ANA.value], await platform.store.readAll())).toEqual([]);
      await models.equalToRebuild();
    } finally {
      await models.close();
    }
  }, 120_000);

  it('a partial unmerge, then erasure of the survivor: the read models live equal a rebuild', async () => {
    const models = await liveReadModels();
    try {
      const { survivorId, splitId } = await mergedThenBensEvents();
      // Ben takes his email only: his phone stays with Ana, and so do the events it came with
      const result = await unmerge(survivorId, { customerId: splitId, identifiers: [`email:${BEN.value}`] });
      expect(result.unmerged[0]).toMatchObject({ identifierCount: 1, reattributedEventIds: [expect.any(String)] });
      await models.caughtUp();
      await erase(survivorId);
      await models.equalToRebuild();
      // the profile update came through Ben's email only: his, readable after Ana's erasure
      expect(readable(['Bernhard', 'Vossenberg'], await readCustomerLog(platform.store, splitId))).toEqual(['Bernhard', 'Vossenberg']);
    } finally {
      await models.close();
    }
  }, 120_000);
  it('a partial unmerge, then erasure of the split customer: what it took is unreadable, what the survivor kept stays, live = rebuilt', async () => {
    const models = await liveReadModels();
    try {
      const { survivorId, splitId } = await mergedThenBensEvents();
      await models.caughtUp();
      await unmerge(survivorId, { customerId: splitId, identifiers: [`email:${BEN.value}`] });
      await models.caughtUp();
      // the 360 follows the registry: the phone the unmerge did not name stays the survivor's
      const identifiersOf = async (id: string) => {
        const found = await models.queries.byId(id);
        return found.kind === 'found' ? found.view.identifiers : found.kind;
      };
      expect(await identifiersOf(survivorId)).toEqual({ email: [ANA.value], phone: [BEN_PHONE.value] });
      expect(await platform.registry.lookup(BEN_PHONE as never)).toBe(survivorId);
      expect(await platform.registry.lookup(BEN as never)).toBe(splitId);
      await erase(splitId);
      await models.caughtUp();
      // the profile update (through his email only) was his: gone; the survey (through his phone, kept by Ana) stays Ana's
      const whole = await platform.store.readAll();
      expect(readable(['Bernhard', 'Vossenberg', BEN.value], whole)).toEqual([]);
      expect(readable(['the parcel was left in the rain'], await readCustomerLog(platform.store, survivorId))).toEqual([
        'the parcel was left in the rain',
      ]);
      expect(await identifiersOf(survivorId)).toEqual({ email: [ANA.value], phone: [BEN_PHONE.value] });
      await models.equalToRebuild();
      // the registry: the email the unmerge moved to Ben no longer resolves, the phone Ana kept still resolves to her
      expect(await platform.registry.lookup(BEN as never)).toBeUndefined();
      expect(await platform.registry.lookup(BEN_PHONE as never)).toBe(survivorId);
      // a later event with the erased email is a new customer; one with the kept phone is Ana's
      const [again] = await platform.ingestion.ingest([
        envelope({ type: 'web.visited', customer: { identifiers: [BEN] }, data: { url: 'https://shop.example.com/again' } }),
      ]);
      expect([survivorId, splitId]).not.toContain(again.customerId);
      const [phone] = await platform.ingestion.ingest([
        envelope({ type: 'web.visited', customer: { identifiers: [BEN_PHONE] }, data: { url: 'https://shop.example.com/phone' } }),
      ]);
      expect(phone.customerId).toBe(survivorId);
      await models.equalToRebuild();
    } finally {
      await models.close();
    }
  }, 120_000);
  it("a partial unmerge, then the split customer's erasure: an identifier the survivor kept that only the split customer's events named leaves the 360 index with the rest", async () => {
    const models = await liveReadModels();
    try {
      const crm = { kind: 'crm', value: 'CRM-BEN-77' };
      const [ana] = await platform.ingestion.ingest([
        envelope({ customer: { identifiers: [ANA] }, data: { direction: 'inbound', handleSeconds: 30, resolved: true } }),
      ]);
      const [ben] = await platform.ingestion.ingest([
        envelope({ type: 'web.visited', customer: { identifiers: [BEN, crm] }, data: { url: 'https://shop.example.com/' } }),
      ]);
      await platform.ingestion.ingest([
        envelope({ type: 'web.visited', customer: { identifiers: [ANA, BEN] }, data: { url: 'https://x.example/' } }),
      ]);
      await models.caughtUp();
      await unmerge(ana.customerId, { customerId: ben.customerId, identifiers: [`email:${BEN.value}`] });
      await models.caughtUp();
      expect(await platform.registry.lookup(crm as never)).toBe(ana.customerId);
      await erase(ben.customerId);
      await models.caughtUp();
      // the registry still resolves it to the survivor; the 360's index cannot (the only events that named
      // it are unreadable), live as rebuilt
      expect(await platform.registry.lookup(crm as never)).toBe(ana.customerId);
      expect((await models.queries.byIdentifier(crm as never)).kind).toBe('not-found');
      await models.equalToRebuild();
    } finally {
      await models.close();
    }
  }, 120_000);
  it('re-seals in several events when the values exceed one append, and readers get every value from them', async () => {
    const { survivorId, splitId } = await mergedThenBensEvents();
    // 80 notes of 4,900 characters through Ben's email: about 390 KB of values, more than one copy holds
    const notes = Array.from({ length: 80 }, (_, i) => `note ${i} ${'x'.repeat(4_900)}`);
    await platform.ingestion.ingest(
      notes.map((n) =>
        envelope({ customer: { identifiers: [BEN] }, data: { direction: 'inbound', handleSeconds: 5, resolved: true, notes: n } }),
      ),
    );
    const result = await unmerge(survivorId, { customerId: splitId });
    expect(result.unmerged[0].reattributedEventIds).toHaveLength(83);
    const copies = await platform.logStore.readStream(RESEALED_STREAM);
    expect(copies.length).toBeGreaterThan(1);
    const copied = copies.flatMap((c) => (c.data as { events: { eventId: string }[] }).events.map((e) => e.eventId));
    expect(new Set(copied).size).toBe(copied.length);
    await erase(survivorId);
    const bensLog = await readCustomerLog(platform.store, splitId);
    const events = bensLog.kind === 'found' ? bensLog.events : [];
    expect(events.filter((e) => notes.includes((e.data as { notes?: string }).notes ?? ''))).toHaveLength(80);
  }, 120_000);
});
