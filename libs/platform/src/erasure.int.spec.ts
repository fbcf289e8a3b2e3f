import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { customerStreamId } from '@cem/domain';
import { startProjector } from '@cem/read-models/projector/projector.module';
import { openSqliteReadStore } from '@cem/read-models/store/read-store';
import { dumpCustomer360 } from '../../../test/support/read-side-harness';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { bytesOf, openTestPlatform, personaHistory, privacyKeys } from '../../../test/support/platform-harness';
import { Customer360Queries } from '@cem/read-models/customer-360/customer-360.query';
import { storedValuesOfStore } from '@cem/read-models/projector/projection';
import { eraseCustomer, ErasureRefusedError } from './erasure';
import { unmergeCustomer } from './unmerge';
import { openPlatform, type Platform } from './platform';

const PERSONA = personaHistory({
  email: 'anneke.zwartewaal@example.com',
  phone: '+31612345678',
  firstName: 'Anneke',
  lastName: 'Zwartewaal',
  street: 'Kerkstraat 17',
  notes: 'my router keeps dropping',
  comment: 'Refund please',
});
const { email: EMAIL, phone: PHONE, found } = PERSONA;
const requester = { kind: 'named' as const, name: 'privacy-officer' };

describe('erasure by crypto-shredding (embedded store)', () => {
  let dir: string;
  let platform: Platform;
  const keys = privacyKeys();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cem-erase-'));
    platform = openTestPlatform(dir, keys);
  });
  afterEach(async () => {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A customer known by email, another by phone, merged by an event naming both; plus a bystander. */
  const ingestHistory = () => PERSONA.ingest(platform);

  async function project(name: string) {
    const readStore = await openSqliteReadStore(join(dir, `${name}.db`));
    const running = await startProjector({ store: platform.store, db: readStore.db, readStore, batchSize: 100 });
    return {
      caughtUp: () => running.projector.whenCaughtUpToHead(60_000),
      async close() {
        await running.close();
        await readStore.close();
      },
    };
  }

  it('makes every personal value unreadable everywhere, keeps the rest, and a rebuild agrees with the live read model', async () => {
    const { survivor, mergedAway, other } = await ingestHistory();
    const live = await project('read-models');
    expect(await live.caughtUp()).toBe(true);
    const before = dumpCustomer360(join(dir, 'read-models.db'));
    // the 360 keeps the identifiers sealed with the customer's key (its profile and timeline text in plain, until erased)
    const storedBefore = JSON.stringify(before);
    expect(found(Buffer.from(storedBefore))).toEqual(expect.arrayContaining(['Anneke', 'Refund please']));
    expect([EMAIL, PHONE].filter((s) => storedBefore.includes(s))).toEqual([]);
    expect(storedBefore).toContain('cem:enc:2:');

    const certificate = await eraseCustomer(platform, { customerId: survivor, reason: 'DSR-2026-0042', requestedBy: requester });
    expect(certificate).toMatchObject({
      customerId: survivor,
      erasedCustomerIds: expect.arrayContaining([survivor, mergedAway]),
      requestedBy: requester,
      reason: 'DSR-2026-0042',
      plaintextEvents: 0,
    });
    expect(certificate.erasedFields).toEqual(
      expect.arrayContaining(['contact.handled: notes', 'profile.updated: *', 'survey.answered: comment', 'profile.updated: identifiers']),
    );
    expect(certificate.position).toBeGreaterThan(certificate.logHeadBefore);
    expect(await live.caughtUp()).toBe(true);
    await live.close();

    // the raw bytes of the event log, the registry, the key store and the read models
    expect(found(bytesOf(dir, 'events.db', 'platform.db', 'keys.db', 'read-models.db'))).toEqual([]);
    // what readers get: the events without their personal values, counts and amounts kept
    const read = await platform.store.readAll();
    expect(found(Buffer.from(JSON.stringify(read)))).toEqual([]);
    expect(read.find((e) => e.type === 'purchase.completed')!.data).toMatchObject({ amount: PERSONA.kept.amount, currency: 'EUR' });
    expect(read.find((e) => e.type === 'survey.answered')!.data).toEqual({ nps: PERSONA.kept.nps });
    const erasedEvent = read.find((e) => e.type === 'personal-data.erased')!;
    expect(erasedEvent.streamId).toBe(customerStreamId(survivor));

    const after = dumpCustomer360(join(dir, 'read-models.db'));
    const row = (dump: Record<string, string>, id: string) =>
      dump.c360_customers
        .split('\n')
        .map((r) => JSON.parse(r) as unknown[])
        .find((r) => r[0] === id)!;
    // the counts, value and NPS of the survivor are unchanged (all columns but the document)
    expect(row(after, survivor).slice(0, -3)).toEqual(row(before, survivor).slice(0, -3));
    const doc = JSON.parse(row(after, survivor).find((c) => typeof c === 'string' && c.startsWith('{')) as string);
    expect(doc).toMatchObject({ identifiers: {}, profile: {}, eventCount: 4, purchases: 1 });
    // the bystander still resolves and reads as before
    expect(
      await platform.registry.lookup({
        kind: 'email',
        value: (read.find((e) => e.eventId === other.eventId)!.metadata as any).identifiers[0].value,
      }),
    ).toBe(other.customerId);

    // a rebuild from the log gives the same customer-360 tables as the live erasure
    const rebuilt = await project('rebuilt');
    expect(await rebuilt.caughtUp()).toBe(true);
    await rebuilt.close();
    expect(dumpCustomer360(join(dir, 'rebuilt.db'))).toEqual(after);

    // the identifiers no longer resolve: the same email later is a new customer
    expect(await platform.registry.lookup({ kind: 'email', value: EMAIL })).toBeUndefined();
    const [again] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [{ kind: 'email', value: EMAIL }] } })]);
    expect([survivor, mergedAway]).not.toContain(again.customerId);
  }, 120_000);

  it('leaves a customer unmerged from the survivor before the erasure alone: its key, events and 360 stay readable', async () => {
    const { survivor, mergedAway } = await ingestHistory();
    const live = await project('read-models');
    expect(await live.caughtUp()).toBe(true);
    await unmergeCustomer(platform, {
      customerId: survivor,
      splits: [{ customerId: mergedAway }],
      reason: 'CASE-1',
      requestedBy: requester,
    });
    expect(await live.caughtUp()).toBe(true);
    const certificate = await eraseCustomer(platform, { customerId: survivor, reason: 'DSR-1', requestedBy: requester });
    expect(certificate.erasedCustomerIds).toEqual([survivor]);
    expect(await platform.keys!.isErased(survivor)).toBe(true);
    expect(await platform.keys!.isErased(mergedAway)).toBe(false);
    expect(await live.caughtUp()).toBe(true);
    await live.close();

    // the split customer's own events still read in plain; the survivor's do not
    const values = JSON.stringify(await platform.store.readStream(customerStreamId(mergedAway)));
    const splitValue = [EMAIL, PHONE].find((v) => values.includes(v))!;
    expect(splitValue).toBeDefined();
    const survivorValue = [EMAIL, PHONE].find((v) => v !== splitValue)!;
    expect(JSON.stringify(await platform.store.readStream(customerStreamId(survivor)))).not.toContain(survivorValue);
    // its identifier still resolves to it; the survivor's is forgotten
    const kindOf = (v: string) => (v === EMAIL ? 'email' : 'phone');
    expect(await platform.registry.lookup({ kind: kindOf(splitValue), value: splitValue })).toBe(mergedAway);
    expect(await platform.registry.lookup({ kind: kindOf(survivorValue), value: survivorValue })).toBeUndefined();

    // the 360 shows it with its identifier and finds it by it, live and rebuilt from 0 alike
    const rebuilt = await project('rebuilt');
    expect(await rebuilt.caughtUp()).toBe(true);
    await rebuilt.close();
    expect(dumpCustomer360(join(dir, 'rebuilt.db'))).toEqual(dumpCustomer360(join(dir, 'read-models.db')));
    for (const name of ['read-models', 'rebuilt']) {
      const readStore = await openSqliteReadStore(join(dir, `${name}.db`));
      const queries = new Customer360Queries(
        readStore.db as never,
        () => TEST_NOW,
        platform.identifierIndex,
        storedValuesOfStore(platform.store),
      );
      expect(await queries.byId(mergedAway)).toMatchObject({
        kind: 'found',
        view: { identifiers: { [kindOf(splitValue)]: [splitValue] } },
      });
      expect(await queries.customerIdOf({ kind: kindOf(splitValue), value: splitValue })).toBe(mergedAway);
      expect(await queries.customerIdOf({ kind: kindOf(survivorValue), value: survivorValue })).toBeUndefined();
      await readStore.close();
    }
  }, 120_000);

  it('refuses bad requests with a specific reason and changes nothing', async () => {
    const { survivor, mergedAway } = await ingestHistory();
    const head = await platform.logStore.headPosition();
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => (e instanceof ErasureRefusedError ? [e.field, e.code] : e),
      );
    const erase = (customerId: string, reason?: string) => eraseCustomer(platform, { customerId, reason, requestedBy: requester });
    expect(await refusal(erase(survivor))).toEqual(['reason', 'missing-reason']);
    expect(await refusal(erase(survivor, '   '))).toEqual(['reason', 'missing-reason']);
    expect(await refusal(erase('0b6d4c1e-1f7e-4a52-9d43-5a1f8a1e0009', 'r'))).toEqual(['customerId', 'unknown-customer']);
    expect(await refusal(erase('not-an-id', 'r'))).toEqual(['customerId', 'unknown-customer']);
    expect(await refusal(erase(mergedAway, 'r'))).toEqual(['customerId', 'merged-away']);
    expect(await platform.logStore.headPosition()).toBe(head);
    expect(await platform.registry.lookup({ kind: 'email', value: EMAIL })).toBe(survivor);

    await erase(survivor, 'r');
    expect(await refusal(erase(survivor, 'r'))).toEqual(['customerId', 'already-erased']);
  });

  it('an erasure stopped after its certificate was kept is completed by running it again', async () => {
    const { survivor } = await ingestHistory();
    // as if the process died right after step 1: the registry and the key store refuse to move
    const forget = jest.spyOn(platform.registry, 'forgetCustomers').mockRejectedValueOnce(new Error('killed'));
    await expect(eraseCustomer(platform, { customerId: survivor, reason: 'r', requestedBy: requester })).rejects.toThrow('killed');
    forget.mockRestore();
    // nothing is half: everything still reads
    expect(JSON.stringify(await platform.store.readAll())).toContain('Anneke');
    const first = (await platform.logStore.readAll()).filter((e) => e.type === 'personal-data.erased');
    expect(first).toHaveLength(1);
    const done = await eraseCustomer(platform, { customerId: survivor, reason: 'r', requestedBy: requester });
    expect(done.eventId).toBe(first[0].eventId);
    expect(found(bytesOf(dir, 'events.db', 'platform.db', 'keys.db'))).toEqual([]);
  });

  it('refuses without encryption, naming the configuration', async () => {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'cem-erase-'));
    platform = openPlatform(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }), { now: () => TEST_NOW });
    const [r] = await platform.ingestion.ingest([envelope()]);
    await expect(eraseCustomer(platform, { customerId: r.customerId, reason: 'r', requestedBy: requester })).rejects.toMatchObject({
      field: 'configuration',
      code: 'not-available',
    });
  });
});
