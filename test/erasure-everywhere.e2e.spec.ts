import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadSignalsConfig, silentLogger } from '@cem/config';
import { createKafka } from '@cem/kafka';
import { CustomerSignalPublisher, SignalStateStore } from '@cem/signals';
import { KEYS, startApi, type ApiHarness } from './support/api-harness';
import { envelope } from './support/envelopes';
import { describeWithKafka, readAllMessages, TEST_BROKERS, testKafka, uniqueName } from './support/kafka-test-env';
import { appendBandChange, eventually, startReceiver } from './support/webhook-receiver';

jest.setTimeout(180_000);

const EMAIL = 'pieter.jansen@example.com';
const PHONE = '+31645678901';
const SECRETS = [
  EMAIL,
  PHONE,
  'Pieter',
  'Jansen',
  'Molenweg 12',
  'my modem is broken again',
  'refund the second box',
  'the driver was rude',
];

const found = (bytes: Buffer | string) =>
  SECRETS.filter((s) => (typeof bytes === 'string' ? bytes.includes(s) : bytes.includes(Buffer.from(s))));

/**
 * The erasure test across every place the platform keeps or sends data: after a customer
 * with an email, a phone, a name, an address and free text is erased through the API, none of those
 * values is in the raw bytes of any file of the data directory (event log, registry, key store, read
 * models, webhook store, signal state), in the Kafka signal topic, in what the webhook receiver got, in
 * the API's answers (360 view, lookup, audit trail, data-subject export) or in the process's logs.
 */
describeWithKafka('erasure: no personal value anywhere afterwards (files, Kafka signals, webhooks, API, audit, logs)', () => {
  let api: ApiHarness;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const topic = uniqueName('cem.customer-signals.erasure');
  const kafka = testKafka('erasure-everywhere-e2e');
  const logs: string[] = [];
  const privacy = { PRIVACY_MASTER_KEY: randomBytes(32).toString('base64'), PRIVACY_INDEX_SECRET: randomBytes(32).toString('base64') };

  beforeAll(async () => {
    // the process's log lines, whatever writes them
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream);
      jest.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
        logs.push(String(chunk));
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as never);
    }
    api = await startApi({ ...privacy, LOG_LEVEL: 'debug', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_INITIAL_MS: '50' });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await receiver?.close();
    await api?.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  const call = (method: 'GET' | 'POST', url: string, key: string, body?: unknown) =>
    api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });

  async function publishSignals() {
    const config = loadSignalsConfig({
      KAFKA_BROKERS: TEST_BROKERS.join(','),
      KAFKA_CLIENT_ID: 'erasure-everywhere-e2e',
      KAFKA_SIGNALS_TOPIC: topic,
      KAFKA_SIGNALS_PARTITIONS: '1',
      KAFKA_CREATE_TOPICS: 'true',
      KAFKA_RETRY_INITIAL_MS: '50',
      KAFKA_RETRY_MAX_MS: '500',
      KAFKA_LOG_LEVEL: 'error',
    });
    const states = new SignalStateStore(join(api.dataDir, 'signals.db'), 'NORMAL');
    const publisher = new CustomerSignalPublisher(createKafka(config, silentLogger), config, api.platform.store, states, silentLogger);
    try {
      await publisher.start();
      expect(await publisher.whenPublished()).toBe(true);
    } finally {
      await publisher.stop();
      states.close();
    }
  }

  it('erases the person from every store, message and answer, and keeps the bystander', async () => {
    const hook = await call('POST', '/v1/webhooks', KEYS.ops, {
      url: receiver.url,
      secret: 'a-secret-only-ops-and-the-receiver-know-0123',
      eventTypes: ['customer.churn-risk-changed'],
    });
    expect(hook.statusCode).toBe(201);

    const email = { kind: 'email', value: EMAIL };
    const phone = { kind: 'phone', value: PHONE };
    const ingest = async (e: Record<string, unknown>) => {
      const res = await call('POST', '/v1/events', KEYS.ingest, e);
      expect(res.statusCode).toBe(201);
      return res.json() as { customerId: string; position: number };
    };
    await ingest(
      envelope({
        customer: { identifiers: [email] },
        data: { direction: 'inbound', handleSeconds: 200, resolved: false, notes: 'my modem is broken again' },
      }),
    );
    await ingest(
      envelope({
        type: 'purchase.completed',
        channel: 'web',
        customer: { identifiers: [phone] },
        data: { orderId: 'o-12', amount: 99, currency: 'EUR' },
      }),
    );
    const merged = await ingest(
      envelope({
        type: 'profile.updated',
        channel: 'web',
        customer: { identifiers: [email, phone] },
        data: { firstName: 'Pieter', lastName: 'Jansen', address: { line1: 'Molenweg 12', city: 'Delft' } },
      }),
    );
    await ingest(
      envelope({
        type: 'survey.answered',
        schemaVersion: 2,
        channel: 'email',
        customer: { identifiers: [phone] },
        data: { nps: 1, comment: 'refund the second box' },
      }),
    );
    await ingest(
      envelope({
        type: 'complaint.filed',
        channel: 'email',
        customer: { identifiers: [email] },
        data: { category: 'delivery', description: 'the driver was rude' },
      }),
    );
    const other = await ingest(envelope({ customer: { identifiers: [{ kind: 'email', value: 'bystander@example.com' }] } }));
    const survivor = merged.customerId;
    // a band change: a webhook delivery (kept in webhooks.db) and a signal
    await appendBandChange(api.platform.store, survivor, 'high');
    await eventually('the webhook delivery', () => receiver.requests.length > 0);
    await publishSignals();
    const before = await call('GET', `/v1/customers/${survivor}?minPosition=${await api.platform.store.headPosition()}`, KEYS.analyst);
    expect(found(before.body)).toEqual(expect.arrayContaining([EMAIL, PHONE, 'Pieter']));
    // before the erasure too, the read store holds no identifier in plaintext (the 360 keeps them sealed)
    const readStoreFiles = readdirSync(api.dataDir).filter((f) => f.startsWith('read-models.db'));
    expect(readStoreFiles).toContain('read-models.db');
    const identifiersIn = (name: string) => [EMAIL, PHONE].filter((s) => readFileSync(join(api.dataDir, name)).includes(Buffer.from(s)));
    expect(readStoreFiles.map((name) => [name, identifiersIn(name)])).toEqual(readStoreFiles.map((name) => [name, []]));

    const erased = await call('POST', '/v1/admin/erasures', KEYS.ops, { customerId: survivor, reason: 'DSR-2026-0311' });
    expect(erased.statusCode).toBe(201);
    const certificate = erased.json() as { position: number; erasedCustomerIds: string[] };
    await publishSignals();

    // the API's answers
    const view = await call('GET', `/v1/customers/${survivor}?minPosition=${certificate.position}`, KEYS.analyst);
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({ eventCount: 5, purchases: 1, scores: { nps: { score: 1 } } });
    const answers = [
      view.body,
      (await call('GET', `/v1/customers/lookup?identifier=email:${EMAIL}&minPosition=${certificate.position}`, KEYS.analyst)).body,
      (await call('GET', `/v1/audit/customers/${survivor}`, KEYS.ops)).body,
      (await call('POST', '/v1/admin/subject-exports', KEYS.ops, { customerId: survivor })).body,
      (await call('GET', `/v1/churn-risk/customers/${survivor}`, KEYS.analyst)).body,
    ];
    expect(answers.map(found)).toEqual(answers.map(() => []));
    // the raw bytes of every file of the data directory: events, registry, keys, read models, webhooks, signal state
    const files = readdirSync(api.dataDir);
    expect(files).toEqual(expect.arrayContaining(['events.db', 'platform.db', 'keys.db', 'read-models.db', 'webhooks.db', 'signals.db']));
    const perFile = (dir: string): [string, string[]][] =>
      readdirSync(dir).flatMap((name) =>
        statSync(join(dir, name)).isDirectory()
          ? perFile(join(dir, name))
          : [[name, found(readFileSync(join(dir, name)))] as [string, string[]]],
      );
    // the read store scrubs its WAL just after the lane commits the erasure (ReadStore.afterErasure),
    // which may be a moment after the answers above saw the erased view
    await eventually('the read store to scrub its WAL', () => perFile(api.dataDir).every(([, f]) => f.length === 0), 15_000).catch(
      () => undefined,
    );
    expect(perFile(api.dataDir).filter(([, f]) => f.length > 0)).toEqual([]);
    // the Kafka signals (keys, headers, values) and what the webhook receiver was sent
    const messages = await readAllMessages(kafka, topic);
    expect(messages.length).toBeGreaterThan(0);
    expect(
      found(JSON.stringify(messages.map((m) => ({ key: m.key?.toString(), headers: m.headers, value: m.value?.toString() })))),
    ).toEqual([]);
    expect(found(JSON.stringify(receiver.requests))).toEqual([]);
    // the logs of the whole run
    expect(logs.length).toBeGreaterThan(0);
    expect(found(logs.join(''))).toEqual([]);

    // the bystander is untouched
    const bystander = await call('GET', `/v1/customers/${other.customerId}`, KEYS.analyst);
    expect(bystander.body).toContain('bystander@example.com');
  });
  /**
   * After an unmerge, what it re-attributed is the split customer's (docs/privacy.md, "Unmerge and
   * erasure"): erasing the split customer through the API leaves none of its values, including those
   * that came through the merged identity after the merge (on the survivor's stream), in any answer
   * about either customer (360, lookup, as-of view before the unmerge, audit trail, export), the
   * files, the Kafka signals or the logs; the survivor keeps its own.
   */
  it('after an unmerge, erasing the split customer removes what the unmerge gave it, from every store, message and answer', async () => {
    const ana = { kind: 'email', value: 'ana.unmerged@example.com' };
    const ben = { kind: 'email', value: 'ben.unmerged@example.com' };
    const benPhone = { kind: 'phone', value: '+31698765432' };
    const bens = [ben.value, benPhone.value, 'Bartholomeus', 'Vandersteen', 'the box came open', 'the app logs me out'];
    const anaNote = 'ana wants the invoice by post';
    const foundOf = (secrets: string[]) => (bytes: Buffer | string) =>
      secrets.filter((x) => (typeof bytes === 'string' ? bytes.includes(x) : bytes.includes(Buffer.from(x))));
    const ingest = async (e: Record<string, unknown>) => {
      const res = await call('POST', '/v1/events', KEYS.ingest, e);
      expect(res.statusCode).toBe(201);
      return res.json() as { customerId: string; position: number };
    };
    const a = await ingest(
      envelope({ customer: { identifiers: [ana] }, data: { direction: 'inbound', handleSeconds: 20, resolved: true, notes: anaNote } }),
    );
    const b = await ingest(
      envelope({ type: 'web.visited', customer: { identifiers: [ben, benPhone] }, data: { url: 'https://s.example/' } }),
    );
    expect((await ingest(envelope({ customer: { identifiers: [ana, ben] } }))).customerId).toBe(a.customerId);
    // through Ben's identifiers only, after the merge: on Ana's stream, re-attributed to Ben by the unmerge
    await ingest(
      envelope({ type: 'profile.updated', customer: { identifiers: [ben] }, data: { firstName: 'Bartholomeus', lastName: 'Vandersteen' } }),
    );
    await ingest(
      envelope({
        type: 'survey.answered',
        schemaVersion: 2,
        customer: { identifiers: [benPhone] },
        data: { nps: 4, comment: 'the box came open' },
      }),
    );
    expect(
      (
        await ingest(
          envelope({
            type: 'complaint.filed',
            customer: { identifiers: [ben] },
            data: { category: 'product', description: 'the app logs me out' },
          }),
        )
      ).customerId,
    ).toBe(a.customerId);

    const unmerged = await call('POST', `/v1/customers/${a.customerId}/unmerge`, KEYS.ops, {
      split: [{ customerId: b.customerId }],
      reason: 'CASE-E2E-RESEAL',
    });
    expect(unmerged.statusCode).toBe(200);
    const unmerge = (unmerged.json() as { unmerged: { reattributedEventIds: string[]; unmergedAt: string }[] }).unmerged[0];
    expect(unmerge.reattributedEventIds).toHaveLength(3);
    const beforeUnmerge = new Date(Date.parse(unmerge.unmergedAt) - 1).toISOString();
    // before the erasure, Ben's audit trail holds them
    expect(foundOf(bens)((await call('GET', `/v1/audit/customers/${b.customerId}`, KEYS.ops)).body)).toEqual(
      expect.arrayContaining(['Bartholomeus', 'the box came open', 'the app logs me out']),
    );

    const erased = await call('POST', '/v1/admin/erasures', KEYS.ops, { customerId: b.customerId, reason: 'DSR-E2E-RESEAL' });
    expect(erased.statusCode).toBe(201);
    const { position } = erased.json() as { position: number };
    await publishSignals();

    const answers = [
      (await call('GET', `/v1/customers/${b.customerId}?minPosition=${position}`, KEYS.analyst)).body,
      (await call('GET', `/v1/customers/${a.customerId}?minPosition=${position}`, KEYS.analyst)).body,
      (await call('GET', `/v1/customers/${a.customerId}?asOf=${beforeUnmerge}&by=recorded`, KEYS.analyst)).body,
      (await call('GET', `/v1/customers/lookup?identifier=email:${ben.value}&minPosition=${position}`, KEYS.analyst)).body,
      (await call('GET', `/v1/audit/customers/${b.customerId}`, KEYS.ops)).body,
      (await call('GET', `/v1/audit/customers/${a.customerId}`, KEYS.ops)).body,
      (await call('POST', '/v1/admin/subject-exports', KEYS.ops, { customerId: b.customerId })).body,
      (await call('POST', '/v1/admin/subject-exports', KEYS.ops, { customerId: a.customerId })).body,
    ];
    expect(answers.map(foundOf(bens))).toEqual(answers.map(() => []));
    // Ana keeps hers
    expect(foundOf([anaNote])((await call('GET', `/v1/audit/customers/${a.customerId}`, KEYS.ops)).body)).toEqual([anaNote]);
    // the files of the data directory (the read store scrubs its WAL just after the lane commits the erasure)
    const inFiles = () =>
      readdirSync(api.dataDir)
        .filter((name) => !statSync(join(api.dataDir, name)).isDirectory())
        .flatMap((name) => foundOf(bens)(readFileSync(join(api.dataDir, name))).map((x) => `${name}: ${x}`));
    await eventually('the read store to scrub its WAL', () => inFiles().length === 0, 15_000).catch(() => undefined);
    expect(inFiles()).toEqual([]);
    const messages = await readAllMessages(kafka, topic);
    expect(
      foundOf(bens)(JSON.stringify(messages.map((m) => ({ key: m.key?.toString(), headers: m.headers, value: m.value?.toString() })))),
    ).toEqual([]);
    expect(foundOf(bens)(logs.join(''))).toEqual([]);
  });
});
