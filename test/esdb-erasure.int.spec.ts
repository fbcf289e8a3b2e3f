import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsdbEventStore } from '@cem/event-store';
import { EsdbIdentityRegistry } from '@cem/identity';
import { eraseCustomer, exportSubject, type Platform } from '@cem/platform';
import { envelope } from './support/envelopes';
import { EsdbDouble } from './support/esdb-double';
import { bytesOf, openTestPlatform, personaHistory, privacyKeys } from './support/platform-harness';

const PERSONA = personaHistory({
  email: 'marieke.oosterhout@example.com',
  phone: '+31623456789',
  firstName: 'Marieke',
  lastName: 'Oosterhout',
  street: 'Lindenlaan 4',
  notes: 'the technician never came',
  comment: 'cancel it all',
});
const { email: EMAIL, phone: PHONE, secrets: SECRETS, found } = PERSONA;
const requester = { kind: 'named' as const, name: 'privacy-officer' };

/**
 * Erasure with the event log and the identity registry on EventStoreDB (the gRPC double): the claims
 * of the customer's identifiers are released on their append-only claim streams, so they no longer
 * resolve (a later event makes a new customer, also through an instance that still remembered the old
 * claim), and no personal value is readable in what the server holds.
 */
describe('erasure on EventStoreDB (gRPC double)', () => {
  let server: EsdbDouble;
  let dir: string;
  let platform: Platform;
  const privacy = privacyKeys();

  beforeEach(async () => {
    server = new EsdbDouble();
    const connectionString = await server.start();
    dir = mkdtempSync(join(tmpdir(), 'cem-esdb-erase-'));
    platform = openTestPlatform(dir, { EVENT_STORE: 'esdb', ESDB_CONNECTION_STRING: connectionString, ...privacy });
  });
  afterEach(async () => {
    await platform.close();
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const email = { kind: 'email' as const, value: EMAIL };
  const phone = { kind: 'phone' as const, value: PHONE };
  const ingestHistory = () => PERSONA.ingest(platform);

  /**
   * The personal values readable in what the double holds: every event's data and metadata and every
   * stream name (the identity registry's claim streams and merge evidence name identifiers by their
   * blind keys).
   */
  const inServer = () => {
    const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
    const bytes = server.log.map((e) => `${e.streamName}\n${e.type}\n${text(e.data)}\n${text(e.customMetadata)}`).join('\n');
    return SECRETS.filter((s) => bytes.includes(s));
  };
  const inDataDir = () => found(bytesOf(dir));

  it('releases the identifiers, leaves no personal value readable, and the same email later makes a new customer', async () => {
    const { survivor, mergedAway, other } = await ingestHistory();
    // another API instance that has resolved the email already (it remembers the claim)
    const otherInstance = new EsdbIdentityRegistry((platform.logStore as EsdbEventStore).client, { index: platform.identifierIndex });
    expect(await otherInstance.lookup(email)).toBe(survivor);

    // the data-subject export on EventStoreDB: found by the phone, the merged history decrypted
    const exported = await exportSubject(platform, { identifier: `phone:${PHONE}` });
    expect(exported.subject).toEqual({ customerId: survivor, foundBy: 'identifier', mergedIds: [mergedAway] });
    expect(SECRETS.filter((x) => !JSON.stringify(exported).includes(x))).toEqual([]);

    const certificate = await eraseCustomer(platform, { customerId: survivor, reason: 'DSR-2026-0107', requestedBy: requester });
    expect(certificate.erasedCustomerIds.sort()).toEqual([survivor, mergedAway].sort());
    expect(certificate.plaintextEvents).toBe(0);

    expect(await platform.registry.lookup(email)).toBeUndefined();
    expect(await platform.registry.lookup(phone)).toBeUndefined();
    expect(await otherInstance.lookup(email)).toBeUndefined();
    expect(await platform.registry.lookup({ kind: 'email', value: await emailOf(other.eventId) })).toBe(other.customerId);

    // what readers get: no personal value, the rest kept
    const read = await platform.store.readAll();
    expect(SECRETS.filter((s) => JSON.stringify(read).includes(s))).toEqual([]);
    expect(read.find((e) => e.type === 'purchase.completed')!.data).toMatchObject({ amount: PERSONA.kept.amount, currency: 'EUR' });
    expect(read.find((e) => e.type === 'survey.answered')!.data).toEqual({ nps: PERSONA.kept.nps });
    expect(inDataDir()).toEqual([]);
    expect(inServer()).toEqual([]);
    const afterwards = await exportSubject(platform, { customerId: survivor });
    expect(afterwards.erasure).toMatchObject({ customerId: survivor, reason: 'DSR-2026-0107' });
    expect(SECRETS.filter((x) => JSON.stringify(afterwards).includes(x))).toEqual([]);

    // a later event with the same email: a new customer, first through the instance that still
    // remembers the old claim, then through the platform's, which finds the new claim
    const [viaOther] = await otherInstance.resolveBatch([
      { identifiers: [email], triggeringEventId: 'e-1', occurredAt: '2026-11-20T10:00:00Z', source: 'test' },
    ]);
    expect(viaOther.registered).toBe(true);
    expect([survivor, mergedAway]).not.toContain(viaOther.customerId);
    const [again] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [email] } })]);
    expect(again.customerId).toBe(viaOther.customerId);
    expect(await platform.registry.lookup(email)).toBe(again.customerId);
    const [byPhone] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [phone] } })]);
    expect([survivor, mergedAway, again.customerId]).not.toContain(byPhone.customerId);

    // running it again: refused as already erased, nothing appended
    const head = await platform.logStore.headPosition();
    await expect(eraseCustomer(platform, { customerId: survivor, reason: 'r', requestedBy: requester })).rejects.toMatchObject({
      code: 'already-erased',
    });
    expect(await platform.logStore.headPosition()).toBe(head);
  }, 60_000);

  it('an erasure stopped after its certificate was kept is completed by running it again', async () => {
    const { survivor } = await ingestHistory();
    const forget = jest.spyOn(platform.registry, 'forgetCustomers').mockRejectedValueOnce(new Error('killed'));
    await expect(eraseCustomer(platform, { customerId: survivor, reason: 'r', requestedBy: requester })).rejects.toThrow('killed');
    forget.mockRestore();
    expect(await platform.registry.lookup(email)).toBe(survivor);
    expect(JSON.stringify(await platform.store.readAll())).toContain('Marieke');
    const done = await eraseCustomer(platform, { customerId: survivor, reason: 'r', requestedBy: requester });
    expect((await platform.logStore.readAll()).filter((e) => e.type === 'personal-data.erased').map((e) => e.eventId)).toEqual([
      done.eventId,
    ]);
    expect(await platform.registry.lookup(email)).toBeUndefined();
    expect(inServer()).toEqual([]);
  }, 60_000);

  async function emailOf(eventId: string): Promise<string> {
    const e = (await platform.store.readAll()).find((x) => x.eventId === eventId)!;
    return (e.metadata as { identifiers: { value: string }[] }).identifiers[0].value;
  }
});
