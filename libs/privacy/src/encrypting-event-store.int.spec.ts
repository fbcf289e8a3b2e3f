import { createCipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { EsdbEventStore, SqliteEventStore, type RecordedEvent } from '@cem/event-store';
import { eventStoreContract } from '@cem/event-store/contract/event-store.contract';
import { EsdbIdentityRegistry } from '@cem/identity';
import type { BlindIdentifierIndex } from '@cem/domain';
import { openPlatform, type Platform } from '@cem/platform';
import { EsdbDouble } from '../../../test/support/esdb-double';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { DataKey, SealedValueError } from './cipher/data-key';
import { EncryptingEventStore } from './encrypting-event-store';
import { MasterKeyMismatchError } from './keys/key-store';
import { SqliteKeyStore } from './keys/sqlite-key-store';

const secret = () => randomBytes(32).toString('base64');

// several platforms and gRPC servers per test: room for a loaded machine
jest.setTimeout(30_000);

// The decorator keeps every promise of the event store port, on both adapters.
eventStoreContract('encrypting decorator over the embedded SQLite store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-enc-contract-'));
  const store = new EncryptingEventStore(
    new SqliteEventStore(join(dir, 'events.db')),
    new SqliteKeyStore(join(dir, 'keys.db'), randomBytes(32)),
    randomBytes(32),
  );
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
eventStoreContract('encrypting decorator over the EventStoreDB adapter (gRPC double)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cem-enc-contract-'));
  const server = new EsdbDouble();
  const cs = await server.start();
  const store = new EncryptingEventStore(
    EsdbEventStore.connect(cs),
    new SqliteKeyStore(join(dir, 'keys.db'), randomBytes(32)),
    randomBytes(32),
  );
  return { store, cleanup: async () => (server.stop(), rmSync(dir, { recursive: true, force: true })) };
});

/** The personal values one customer sends: an email, a phone, a name, an address and free text. */
function personalEnvelopes(tag: string) {
  const email = `ana.${tag}@example.com`;
  const phone = '+31612345678';
  const identifiers = [
    { kind: 'email', value: email },
    { kind: 'phone', value: phone },
  ];
  return {
    email,
    phone,
    secrets: [email, 'Anneke', 'Zwartewaal', 'Kerkstraat 17', `my router keeps dropping ${tag}`, 'Refund please, Anneke here'],
    envelopes: [
      envelope({ customer: { identifiers } }),
      envelope({
        type: 'profile.updated',
        customer: { identifiers },
        data: { firstName: 'Anneke', lastName: 'Zwartewaal', address: { line1: 'Kerkstraat 17', city: 'Utrecht' } },
      }),
      envelope({
        type: 'survey.answered',
        schemaVersion: 2,
        customer: { identifiers: [identifiers[0]] },
        data: { nps: 3, comment: `my router keeps dropping ${tag}` },
      }),
      envelope({
        type: 'message.received',
        channel: 'email',
        customer: { identifiers: [identifiers[1]] },
        data: { subject: 'Refund please, Anneke here', body: 'Kerkstraat 17' },
      }),
    ],
  };
}

const everyFileIn = (dir: string, prefix: string): Buffer =>
  Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith(prefix))
      .map((f) => readFileSync(join(dir, f))),
  );
const esdbBytes = (server: EsdbDouble): Buffer =>
  Buffer.concat(server.log.flatMap((e) => [Buffer.from(e.data), Buffer.from(e.customMetadata)]));

interface Deployment {
  name: string;
  open(dataDir: string, env?: Record<string, string>): Promise<{ platform: Platform; storedBytes: () => Buffer; stop?: () => void }>;
}

const deployments: Deployment[] = [
  {
    name: 'embedded SQLite store',
    async open(dataDir, env = {}) {
      const platform = openPlatform(loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', ...env }), { now: () => TEST_NOW });
      return { platform, storedBytes: () => everyFileIn(dataDir, 'events.db') };
    },
  },
  {
    name: 'EventStoreDB adapter (gRPC double)',
    async open(dataDir, env = {}) {
      const server = new EsdbDouble();
      const cs = await server.start();
      const store = EsdbEventStore.connect(cs);
      const platform = openPlatform(loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', ...env }), {
        now: () => TEST_NOW,
        store,
        registry: new EsdbIdentityRegistry(store.client),
      });
      return { platform, storedBytes: () => esdbBytes(server), stop: () => server.stop() };
    },
  },
];

describe.each(deployments)('personal data encrypted per customer: $name', (deployment) => {
  let dataDir: string;
  let opened: Awaited<ReturnType<Deployment['open']>>;
  const env = { PRIVACY_MASTER_KEY: secret(), PRIVACY_INDEX_SECRET: secret() };

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cem-enc-'));
    opened = await deployment.open(dataDir, env);
  });
  afterEach(async () => {
    await opened.platform.close();
    opened.stop?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const personalValuesIn = (bytes: Buffer, values: string[]) => values.filter((v) => bytes.includes(Buffer.from(v, 'utf8')));

  it('stores ciphertext with the key id in the metadata and gives readers the plaintext back', async () => {
    const { envelopes, secrets, email } = personalEnvelopes(randomUUID());
    const results = await opened.platform.ingestion.ingest(envelopes);
    const customerId = results[0].customerId;
    expect(new Set(results.map((r) => r.customerId))).toEqual(new Set([customerId]));

    expect(personalValuesIn(opened.storedBytes(), secrets)).toEqual([]);
    const stored = await opened.platform.logStore.readAll();
    const touchpoints = stored.filter((e) => envelopes.some((env) => env.eventId === e.eventId));
    expect(touchpoints).toHaveLength(4);
    for (const e of touchpoints) expect((e.metadata as { keyId?: string }).keyId).toMatch(/^k-[0-9a-f]{24}$/);

    const read = await opened.platform.store.readAll();
    const profile = read.find((e) => e.type === 'profile.updated')!;
    expect(profile.data).toEqual({ firstName: 'Anneke', lastName: 'Zwartewaal', address: { line1: 'Kerkstraat 17', city: 'Utrecht' } });
    expect((profile.metadata as { identifiers: unknown }).identifiers).toEqual([
      { kind: 'email', value: email },
      { kind: 'phone', value: '+31612345678' },
    ]);
    expect(read.find((e) => e.type === 'survey.answered')!.data).toMatchObject({ nps: 3 });
    const registered = read.find((e) => e.type === 'customer.registered')!;
    expect(JSON.stringify(registered.data)).toContain(email);
    // a subscription (what the projector reads) decrypts too
    const sub = opened.platform.store.subscribeToAll();
    const seen: RecordedEvent[] = [];
    for await (const m of sub) {
      if (m.type === 'events') seen.push(...m.events);
      else break;
    }
    await sub.close();
    expect(seen.map((e) => e.data)).toEqual(read.map((e) => e.data));
  });

  it('recognises a retried event as a duplicate (deterministic sealing, keyed content digest), and refuses changed content', async () => {
    const { envelopes } = personalEnvelopes(randomUUID());
    const first = await opened.platform.ingestion.ingest(envelopes);
    const again = await opened.platform.ingestion.ingest(envelopes);
    expect(again.map((r) => r.duplicate)).toEqual([true, true, true, true]);
    expect(again.map((r) => r.position)).toEqual(first.map((r) => r.position));
    const changed = { ...envelopes[2], data: { nps: 3, comment: 'something else' } };
    await expect(opened.platform.ingestion.ingest([changed])).rejects.toThrow(/already recorded with different content/);
  });

  it('seals identifiers per field (equal in every event of the customer) and other values per event (they open only where they were sealed)', async () => {
    const { envelopes, email } = personalEnvelopes(randomUUID());
    await opened.platform.ingestion.ingest(envelopes);
    const stored = (await opened.platform.logStore.readAll()).filter((e) => envelopes.some((env) => env.eventId === e.eventId));
    const sealedEmails = new Set(
      stored.flatMap((e) =>
        (e.metadata as { identifiers: { kind: string; value: string }[] }).identifiers.filter((i) => i.kind === 'email'),
      ),
    );
    expect(sealedEmails.size).toBeGreaterThan(0);
    expect(new Set([...sealedEmails].map((i) => i.value)).size).toBe(1);
    expect([...sealedEmails][0].value).toMatch(/^cem:enc:2:/);
    const survey = stored.find((e) => e.type === 'survey.answered')!;
    const comment = (survey.data as { comment: string }).comment;
    expect(comment).toMatch(/^cem:enc:1:/);

    // the same ciphertexts placed in another event of the customer: the identifier opens, the comment does not
    const store = opened.platform.store as EncryptingEventStore;
    const moved = { ...survey, eventId: randomUUID() };
    const [opensHere] = await store.open([survey]);
    expect(opensHere.data).toMatchObject({ comment: expect.stringContaining('my router') });
    expect((opensHere.metadata as { identifiers: { value: string }[] }).identifiers[0].value).toBe(email);
    await expect(store.open([moved])).rejects.toThrow(SealedValueError);
    const identifierOnly = { ...moved, data: { nps: 3 } };
    const [opened2] = await store.open([identifierOnly]);
    expect((opened2.metadata as { identifiers: { value: string }[] }).identifiers[0].value).toBe(email);
  });

  it('forgets the remembered identifiers (with the key, and the blind index’s) as soon as the key is destroyed, also by another process', async () => {
    const { envelopes, email } = personalEnvelopes(randomUUID());
    const [{ customerId }] = await opened.platform.ingestion.ingest(envelopes);
    // the embedded registry keyed the email on ingest; the EventStoreDB double's registry here keys plainly
    const blind = opened.platform.identifierIndex as BlindIdentifierIndex;
    blind.keyOf({ kind: 'email', value: email });
    expect(blind.remembers({ kind: 'email', value: email })).toBe(true);
    const mine = async () =>
      JSON.stringify(
        (await opened.platform.store.readAll()).filter((e) => (e.metadata as { customerId?: string }).customerId === customerId),
      );
    expect(await mine()).toContain(email); // opened once: the identifiers are remembered with the key
    // the CLI's erasure: another key store on the same file destroys the key
    const cli = new SqliteKeyStore(join(dataDir, 'keys.db'), Buffer.from(env.PRIVACY_MASTER_KEY, 'base64'));
    await cli.destroy([customerId], new Date(TEST_NOW).toISOString());
    await cli.close();
    const after = await mine();
    expect(blind.remembers({ kind: 'email', value: email })).toBe(false);
    expect(after).not.toContain(email);
    expect(after).toContain('personalDataErased');
  });

  it('once the key is destroyed, readers get the events without their personal values, everything else intact', async () => {
    const { envelopes, email } = personalEnvelopes(randomUUID());
    const [{ customerId }] = await opened.platform.ingestion.ingest(envelopes);
    const other = await opened.platform.ingestion.ingest([envelope()]);
    // the embedded registry keyed the email on ingest; the EventStoreDB double's registry here keys plainly
    const blind = opened.platform.identifierIndex as BlindIdentifierIndex;
    blind.keyOf({ kind: 'email', value: email });
    expect(blind.remembers({ kind: 'email', value: email })).toBe(true);
    await opened.platform.keys!.destroy([customerId], new Date(TEST_NOW).toISOString());
    expect(blind.remembers({ kind: 'email', value: email })).toBe(false);

    const read = await opened.platform.store.readAll();
    const mine = read.filter((e) => (e.metadata as { customerId?: string }).customerId === customerId);
    expect(mine.length).toBeGreaterThanOrEqual(5);
    expect(JSON.stringify(mine)).not.toContain(email);
    expect(JSON.stringify(mine)).not.toContain('Anneke');
    for (const e of mine) if ((e.metadata as { keyId?: string }).keyId) expect(e.metadata).toMatchObject({ personalDataErased: true });
    expect(mine.find((e) => e.type === 'profile.updated')!.data).toEqual({});
    expect(mine.find((e) => e.type === 'survey.answered')!.data).toEqual({ nps: 3 });
    expect(mine.find((e) => e.type === 'contact.handled')!.data).toEqual(envelopes[0].data);
    // the other customer reads as before
    const theirs = read.find((e) => e.eventId === other[0].eventId)!;
    expect(JSON.stringify(theirs.metadata)).toContain('@example.com');
  });
});

describe('key store boot checks', () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'cem-keys-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses another master key, and refuses to start without one once keys exist', async () => {
    const env = { DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', PRIVACY_MASTER_KEY: secret(), PRIVACY_INDEX_SECRET: secret() } as const;
    const p = openPlatform(loadConfig(env), { now: () => TEST_NOW });
    await p.ingestion.ingest([envelope()]);
    await p.close();
    expect(() => openPlatform(loadConfig({ ...env, PRIVACY_MASTER_KEY: secret() }))).toThrow(MasterKeyMismatchError);
    expect(() => openPlatform(loadConfig({ DATA_DIR: dataDir }))).toThrow(/PRIVACY_MASTER_KEY: required/);
    const again = openPlatform(loadConfig(env), { now: () => TEST_NOW });
    expect(JSON.stringify((await again.store.readAll()).map((e) => e.metadata))).toContain('@example.com');
    await again.close();
  });

  it('says at start when older events hold plaintext personal data', async () => {
    const plain = openPlatform(loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL' }), { now: () => TEST_NOW });
    await plain.ingestion.ingest([envelope(), envelope()]);
    await plain.close();
    const lines: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => (lines.push(String(chunk)), true));
    try {
      const env = { DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', PRIVACY_MASTER_KEY: secret(), PRIVACY_INDEX_SECRET: secret() };
      const p = openPlatform(loadConfig(env), { now: () => TEST_NOW });
      await p.checkStore();
      // old plaintext events read as they are; new ones are encrypted
      await p.ingestion.ingest([envelope()]);
      const all = await p.store.readAll();
      expect(all.filter((e) => (e.metadata as { keyId?: string }).keyId)).toHaveLength(2); // the new touch point and its registration
      await p.close();
    } finally {
      spy.mockRestore();
    }
    expect(lines.join('')).toMatch(/events up to log position 4 were written before encryption was switched on/);
  });

  it('keeps reading keys made before the nonce key was stored with the key (32 bytes), next to new ones (64 bytes)', async () => {
    const master = randomBytes(32);
    const keys = new SqliteKeyStore(join(dataDir, 'keys.db'), master);
    // an older key, wrapped as the key store wrapped them: nonce | AES-256-GCM(master, key id as AAD) | tag
    const oldKey = randomBytes(32);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', master, nonce);
    cipher.setAAD(Buffer.from('k-000000000000000000000001'));
    const wrapped = Buffer.concat([nonce, cipher.update(oldKey), cipher.final(), cipher.getAuthTag()]);
    keys.db
      .prepare('INSERT INTO customer_keys (customer_id, key_id, wrapped, created_at) VALUES (?, ?, ?, ?)')
      .run('old-customer', 'k-000000000000000000000001', wrapped, new Date(TEST_NOW).toISOString());
    const fresh = (await keys.keysFor(['new-customer'])).get('new-customer')!;
    const row = keys.db
      .prepare<[string], { wrapped: Buffer }>('SELECT wrapped FROM customer_keys WHERE customer_id = ?')
      .get('new-customer')!;
    expect(row.wrapped).toHaveLength(12 + 64 + 16);
    const sealedOld = new DataKey('k-000000000000000000000001', oldKey).seal('Anneke', 'e1\0data.firstName');
    const sealedNew = fresh.seal('Anneke', 'e1\0data.firstName');
    await keys.close();

    const again = new SqliteKeyStore(join(dataDir, 'keys.db'), master);
    const byId = await again.keysById(['k-000000000000000000000001', fresh.keyId]);
    const old = byId.get('k-000000000000000000000001') as DataKey;
    expect(old.open(sealedOld, 'e1\0data.firstName')).toBe('Anneke');
    // sealing with the older key still derives the same nonce key: the same ciphertext as before
    expect(old.seal('Anneke', 'e1\0data.firstName')).toBe(sealedOld);
    expect((byId.get(fresh.keyId) as DataKey).open(sealedNew, 'e1\0data.firstName')).toBe('Anneke');
    expect((byId.get(fresh.keyId) as DataKey).seal('Anneke', 'e1\0data.firstName')).toBe(sealedNew);
    await again.close();
  });

  it('says that personal data is stored in plaintext at LOG_LEVEL warn and below, not above', async () => {
    const warningsAt = async (level: string) => {
      const lines: string[] = [];
      const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => (lines.push(String(chunk)), true));
      try {
        const p = openPlatform(loadConfig({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: level }), { now: () => TEST_NOW });
        await p.checkStore();
        await p.close();
      } finally {
        spy.mockRestore();
      }
      return lines.filter((l) => l.includes('PRIVACY_MASTER_KEY is not set'));
    };
    expect(await warningsAt('error')).toEqual([]);
    expect(await warningsAt('silent')).toEqual([]);
    const [line] = await warningsAt('warn');
    expect(JSON.parse(line)).toMatchObject({ level: 'warn', component: 'platform' });
    expect(await warningsAt('info')).toHaveLength(1);
  });

  it('names the bad secrets at boot', () => {
    expect(() => loadConfig({ PRIVACY_MASTER_KEY: 'short' })).toThrow(/PRIVACY_MASTER_KEY: must be 32 random bytes/);
    expect(() => loadConfig({ PRIVACY_MASTER_KEY: secret() })).toThrow(/set both or neither/);
    const same = secret();
    expect(() => loadConfig({ PRIVACY_MASTER_KEY: same, PRIVACY_INDEX_SECRET: same })).toThrow(/must differ/);
  });
});

describe('content digest', () => {
  it('is HMAC-SHA-256 of type, canonical payload and occurredAt, byte for byte as stores written before compute it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cem-enc-digest-'));
    const digestKey = randomBytes(32);
    const inner = new SqliteEventStore(join(dir, 'events.db'));
    const store = new EncryptingEventStore(inner, new SqliteKeyStore(join(dir, 'keys.db'), randomBytes(32)), digestKey);
    try {
      const customerId = randomUUID();
      const data = { nps: 4, comment: 'ünïcødé ✓ too slow', csat: 2 };
      const occurredAt = '2026-01-02T03:04:05.000Z';
      await store.appendToStream(`customer-${customerId}`, [
        { eventId: randomUUID(), type: 'survey.answered', data, metadata: { customerId, occurredAt } },
      ]);
      const [stored] = await inner.readStream(`customer-${customerId}`);
      // the text as the encrypting store has always keyed it (sorted keys), with node's Hmac
      const text = `survey.answered\n{"comment":"ünïcødé ✓ too slow","csat":2,"nps":4}\n${occurredAt}`;
      expect((stored.metadata as { contentDigest: string }).contentDigest).toBe(
        `hmac-sha256:${createHmac('sha256', digestKey).update(text).digest('base64')}`,
      );
      expect(JSON.stringify(stored.data)).not.toContain('too slow');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
