import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { deterministicUuid } from '@cem/domain';
import { unmergeCustomer, type Platform } from '@cem/platform';
import { toProjectedRecord } from '@cem/read-models';
import { loadSignalsConfig, silentLogger, type SignalsConfig } from '@cem/config';
import { createKafka } from '@cem/kafka';
import {
  CustomerSignalPublisher,
  deriveSignals,
  SignalStateStore,
  SignalWorkingSet,
  type CustomerSignal,
  type SignalCustomerState,
} from '@cem/signals';
import {
  describeWithKafka,
  readAllMessages,
  tempPlatform,
  TEST_BROKERS,
  testKafka,
  uniqueName,
  waitFor,
} from '../../../test/support/kafka-test-env';

jest.setTimeout(180_000);

const REGISTER = join(__dirname, '..', '..', '..', 'test', 'support', 'ts-register.js');
const CHILD = join(__dirname, 'support', 'publisher-process.ts');

const day = (d: number) => new Date(Date.UTC(2025, 0, 1) + d * 86_400_000).toISOString();

/**
 * Touch points of `customers` customers over a year: visits (prospects), purchases (onboarding,
 * then active), detractor answers (at risk), cancelled subscriptions (churned), and every third
 * customer first known by phone and by email separately, then merged by an event carrying both.
 */
function history(run: string, customers: number, offset = 0): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let n = 0;
  const tp = (k: number, ids: { kind: string; value: string }[], type: string, d: number, data: Record<string, unknown>) =>
    out.push({
      eventId: deterministicUuid('signals-e2e', run, String(offset), String(n++)),
      type,
      occurredAt: day(d),
      source: 'e2e',
      channel: 'web',
      customer: { identifiers: ids },
      data,
    });
  for (let k = offset; k < offset + customers; k++) {
    const email = { kind: 'email', value: `c${k}.${run}@example.com` };
    const phone = { kind: 'phone', value: `+4930${String(100000 + k)}` };
    tp(k, [email], 'web.visited', 1, { url: 'https://example.com/' });
    if (k % 3 === 0) {
      tp(k, [phone], 'contact.handled', 2, { direction: 'inbound', handleSeconds: 60, resolved: true });
      tp(k, [email, phone], 'message.received', 3, {});
    }
    if (k % 2 === 0) tp(k, [email], 'purchase.completed', 10, { orderId: `o-${k}`, amount: 100 + k, currency: 'EUR' });
    if (k % 5 === 0) tp(k, [email], 'web.visited', 150, { url: 'https://example.com/account' });
    if (k % 4 === 0) tp(k, [email], 'survey.answered', 160, { nps: 3 });
    if (k % 7 === 0) {
      tp(k, [email], 'subscription.started', 20, { subscriptionId: `s-${k}`, plan: 'basic' });
      tp(k, [email], 'subscription.cancelled', 200, { subscriptionId: `s-${k}` });
    }
  }
  return out;
}

/** The signals the whole log yields, by the same pure derivation, in one pass. */
async function expectedSignals(platform: Platform): Promise<CustomerSignal[]> {
  const stored = new Map<string, SignalCustomerState>();
  const ws = new SignalWorkingSet({ get: (id) => stored.get(id) });
  const records = (await platform.store.readAll()).map(toProjectedRecord);
  ws.useHistoryFrom(records); // an unmerge refolds its customers from the log before it
  return records.flatMap((r) => deriveSignals(ws, r));
}

async function consumed(kafka: Kafka, topic: string) {
  return (await readAllMessages(kafka, topic)).map((m) => ({
    key: m.key?.toString(),
    headers: m.headers,
    value: m.value!.toString(),
    signal: JSON.parse(m.value!.toString()) as CustomerSignal,
  }));
}

function signalsConfig(topic: string, extra: Record<string, string> = {}): SignalsConfig {
  return loadSignalsConfig({ ...envFor(topic), ...extra });
}

function envFor(topic: string): Record<string, string> {
  return {
    KAFKA_BROKERS: TEST_BROKERS.join(','),
    KAFKA_CLIENT_ID: 'signals-e2e',
    KAFKA_SIGNALS_TOPIC: topic,
    KAFKA_SIGNALS_PARTITIONS: '3',
    KAFKA_CREATE_TOPICS: 'true',
    KAFKA_RETRY_INITIAL_MS: '50',
    KAFKA_RETRY_MAX_MS: '500',
    KAFKA_LOG_LEVEL: 'error',
  };
}

describeWithKafka('customer signals publisher (real broker)', () => {
  let kafka: Kafka;
  let admin: Admin;
  const topics: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    kafka = testKafka('signals-e2e');
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    const existing = new Set(await admin.listTopics());
    const mine = topics.filter((t) => existing.has(t));
    if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    await admin.disconnect();
  });

  it('publishes merges and lifecycle-stage changes of ingested events, keyed by customer, and follows the live log from its checkpoint', async () => {
    const env = tempPlatform();
    const topic = uniqueName('cem.customer-signals.e2e');
    topics.push(topic);
    const config = signalsConfig(topic, { SIGNALS_BATCH_SIZE: '25' });
    const run = uniqueName('run');
    const { platform, dataDir } = env;
    const states = new SignalStateStore(join(dataDir, 'signals.db'), 'NORMAL');
    let publisher: CustomerSignalPublisher | undefined;
    try {
      await platform.ingestion.ingest(history(run, 30));
      publisher = new CustomerSignalPublisher(createKafka(config, silentLogger), config, platform.store, states, silentLogger);
      await publisher.start();
      expect(await publisher.whenPublished()).toBe(true);

      // live: more events after the publisher caught up
      await platform.ingestion.ingest(history(run, 6, 30));
      expect(await publisher.whenPublished()).toBe(true);
      // an unmerge while it runs: the customer split off is announced back, with its own stage
      const merge = (await platform.store.readAll()).find((e) => e.type === 'customers.merged')!;
      const { survivorId, mergedIds } = merge.data as { survivorId: string; mergedIds: string[] };
      const splitId = mergedIds[0];
      await unmergeCustomer(platform, {
        customerId: survivorId,
        splits: [{ customerId: splitId }],
        reason: 'CASE-E2E',
        requestedBy: { kind: 'named', name: 'ops' },
      });
      expect(await publisher.whenPublished()).toBe(true);
      await publisher.stop();

      // restarted from its checkpoint: only what is new is published
      await platform.ingestion.ingest(history(run, 3, 36));
      publisher = new CustomerSignalPublisher(createKafka(config, silentLogger), config, platform.store, states, silentLogger);
      await publisher.start();
      expect(await publisher.whenPublished()).toBe(true);
      await publisher.stop();

      const expected = await expectedSignals(platform);
      const got = await consumed(kafka, topic);
      // no loss, no duplicate in a run without crashes, and exactly the derivation of the log
      expect(got.map((m) => m.signal.signalId).sort()).toEqual(expected.map((s) => s.signalId).sort());
      const byId = new Map(expected.map((s) => [s.signalId, s]));
      for (const m of got) {
        expect(m.signal).toEqual(byId.get(m.signal.signalId));
        expect(m.key).toBe(m.signal.customerId);
        expect(m.headers).toEqual({
          'signal.id': m.signal.signalId,
          'signal.type': m.signal.type,
          'signal.schema': 'cem.customer-signal/v1',
        });
      }
      expect(got.every((m) => !m.value.includes('example.com') && !m.value.includes('+4930'))).toBe(true);

      // what the scenario should show: 13 merges (k % 3 === 0 of 39), every stage rule at work
      const merges = got.filter((m) => m.signal.type === 'customers.merged');
      expect(merges).toHaveLength(13);
      for (const m of merges)
        expect(m.signal.data).toMatchObject({
          rule: expect.any(String),
          survivorRule: 'earliest-registered',
          mergedIds: [expect.any(String)],
        });
      const stages = new Set(got.flatMap((m) => (m.signal.type === 'customer.lifecycle-stage-changed' ? [m.signal.data.stage] : [])));
      expect([...stages].sort()).toEqual(['active', 'at_risk', 'churned', 'onboarding', 'prospect']);

      // the unmerge: announced once, then the split customer's stage afresh (previousStage null)
      const unmerged = got.filter((m) => m.signal.type === 'customers.unmerged');
      expect(unmerged.map((m) => [m.key, m.signal.data])).toEqual([
        [survivorId, { survivorId, splitId, restoredIds: [], mergeId: merge.eventId }],
      ]);
      const afterUnmerge = got.filter((m) => m.signal.source.eventId === unmerged[0].signal.source.eventId);
      expect(afterUnmerge.find((m) => m.signal.customerId === splitId)?.signal).toMatchObject({
        type: 'customer.lifecycle-stage-changed',
        data: { previousStage: null, stage: 'prospect' },
      });

      // per customer, the stage signals chain up in order (one partition per key); a customer split off starts afresh
      const chain = new Map<string, string | null>();
      for (const m of got
        .filter((x) => x.signal.type === 'customer.lifecycle-stage-changed')
        .sort((a, b) => a.signal.source.position - b.signal.source.position)) {
        const s = m.signal as Extract<CustomerSignal, { type: 'customer.lifecycle-stage-changed' }>;
        if (s.source.eventType === 'customers.unmerged' && s.customerId === splitId) chain.delete(splitId);
        if (chain.has(s.customerId)) expect(s.data.previousStage).toBe(chain.get(s.customerId));
        chain.set(s.customerId, s.data.stage);
      }
    } finally {
      await publisher?.stop();
      states.close();
      await env.dispose();
    }
  });

  it('publisher killed (SIGKILL) after the broker acknowledged a batch but before its checkpoint, then restarted: no signal lost, duplicates identical', async () => {
    const env = tempPlatform();
    const topic = uniqueName('cem.customer-signals.crash');
    topics.push(topic);
    const run = uniqueName('run');
    try {
      const { platform, dataDir } = env;
      await platform.ingestion.ingest(history(run, 40));
      const expected = await expectedSignals(platform);
      const head = await platform.store.headPosition();
      expect(expected.length).toBeGreaterThan(60);

      const childEnv = { ...envFor(topic), DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', SIGNALS_BATCH_SIZE: '10' };
      const start = (extra: Record<string, string>) => {
        const child = spawn(process.execPath, ['-r', REGISTER, CHILD], {
          env: { ...process.env, ...childEnv, ...extra },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        const lines: string[] = [];
        let stderr = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        return { child, lines, stderr: () => stderr, exited: new Promise<void>((r) => child.on('exit', () => r())) };
      };
      const checkpoint = () => {
        const db = new Database(join(dataDir, 'signals.db'), { readonly: true, fileMustExist: true });
        try {
          return (
            (
              db.prepare(`SELECT position FROM signal_checkpoints WHERE name = 'customer-signals'`).get() as
                { position: number } | undefined
            )?.position ?? 0
          );
        } finally {
          db.close();
        }
      };

      const hangAt = Math.floor(expected.length / 2);
      const first = start({ TEST_HANG_AFTER_SENT: String(hangAt) });
      await waitFor(
        `the publisher to hang after ${hangAt} signals (${first.stderr()})`,
        () => first.lines.some((l) => l.startsWith('HUNG')),
        90_000,
      );
      const before = checkpoint();
      expect(before).toBeGreaterThan(0);
      expect(before).toBeLessThan(head);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = start({});
      await waitFor(`the restarted publisher to reach the head (${second.stderr()})`, () => checkpoint() >= head, 90_000);
      second.child.kill('SIGTERM');
      await second.exited;

      const got = await consumed(kafka, topic);
      const expectedIds = new Set(expected.map((s) => s.signalId));
      const seen = new Map<string, string>();
      let duplicates = 0;
      for (const m of got) {
        expect(expectedIds.has(m.signal.signalId)).toBe(true);
        const prev = seen.get(m.signal.signalId);
        if (prev !== undefined) {
          duplicates++;
          expect(m.value).toBe(prev); // a redelivered signal is byte-identical
        }
        seen.set(m.signal.signalId, m.value);
      }
      expect([...seen.keys()].sort()).toEqual([...expectedIds].sort()); // nothing lost
      expect(duplicates).toBeGreaterThan(0); // the acknowledged, uncommitted batch was sent again
      expect(duplicates).toBeLessThanOrEqual(got.length - expected.length);
    } finally {
      await env.dispose();
    }
  });
});
