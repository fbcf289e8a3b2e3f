import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import type { TouchpointCommand } from '@cem/domain';
import { ingestionPortFor } from '../src/ingestion.adapter';
import { groupLag, KafkaIngestConsumer } from '../src/kafka-ingest.consumer';
import {
  asMessage,
  createTopic,
  describeWithKafka,
  ingestConfig,
  produce,
  sleep,
  tempPlatform,
  TEST_BROKERS,
  testKafka,
  touchpoint,
  uniqueName,
  waitFor,
} from '../../../test/support/kafka-test-env';

jest.setTimeout(180_000);

const REGISTER = join(__dirname, '..', '..', '..', 'test', 'support', 'ts-register.js');
const CHILD = join(__dirname, 'support', 'consumer-process.ts');

/** A consumer process; resolves lines it prints. */
function startConsumerProcess(env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ['-r', REGISTER, CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    line: (prefix: string) => lines.find((l) => l.startsWith(prefix)),
  };
}

/** Counts straight from the SQLite file the child writes (read-only, WAL allows it). */
function storeCounts(dataDir: string): { touchpoints: number; distinct: number; registrations: number } {
  const db = new Database(join(dataDir, 'events.db'), { readonly: true, fileMustExist: true });
  try {
    const r = db
      .prepare(
        `SELECT SUM(type = 'contact.handled') AS touchpoints, COUNT(DISTINCT CASE WHEN type = 'contact.handled' THEN event_id END) AS distinct_ids,
                SUM(type = 'customer.registered') AS registrations FROM events`,
      )
      .get() as { touchpoints: number | null; distinct_ids: number; registrations: number | null };
    return { touchpoints: r.touchpoints ?? 0, distinct: r.distinct_ids, registrations: r.registrations ?? 0 };
  } finally {
    db.close();
  }
}

describeWithKafka('kafka-ingest crash and rebalance (real broker)', () => {
  let kafka: Kafka;
  let admin: Admin;
  const topics: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    kafka = testKafka();
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    const existing = new Set(await admin.listTopics());
    const mine = topics.flatMap((t) => [t, `${t}.dlq`]).filter((t) => existing.has(t));
    if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    await admin.disconnect();
  });

  it('consumer killed (SIGKILL) mid-batch after a durable append but before the commit, then restarted: no loss, no duplicates', async () => {
    const topic = uniqueName('e2e.crash');
    topics.push(topic);
    await createTopic(admin, topic, 3);
    const run = uniqueName('run');
    const N = 3000;
    const envelopes = Array.from({ length: N }, (_, i) => touchpoint(run, i, `crash-${i % 300}`));
    await produce(kafka, topic, envelopes.map(asMessage));

    const tp = tempPlatform(); // creates the schema; the children open the same DATA_DIR
    await tp.platform.close();
    const config = ingestConfig(topic);
    const env = {
      DATA_DIR: tp.dataDir,
      SQLITE_SYNCHRONOUS: 'NORMAL',
      KAFKA_BROKERS: TEST_BROKERS.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: config.groupId,
      KAFKA_CREATE_TOPICS: 'true',
      KAFKA_APPEND_CHUNK_SIZE: '100',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      KAFKA_INGEST_HEALTH_PORT: '0',
      KAFKA_LOG_LEVEL: 'error',
    };

    const first = startConsumerProcess({ ...env, TEST_HANG_AFTER_APPENDED: '1000' });
    children.push(first.child);
    await waitFor(`first consumer to hang after a durable append (stderr: ${first.stderr()})`, () => Boolean(first.line('HUNG')), 60_000);
    const atKill = storeCounts(tp.dataDir);
    const committedAtKill = (await groupLag(admin, config.groupId, topic)).partitions.reduce((s, p) => s + Math.max(0, p.committed), 0);
    first.child.kill('SIGKILL');
    await first.exited;

    // the kill really was mid-batch: events are in the store whose offsets were never committed
    expect(atKill.touchpoints).toBeGreaterThanOrEqual(1000);
    expect(atKill.touchpoints).toBeLessThan(N);
    expect(committedAtKill).toBeLessThan(atKill.touchpoints);

    const second = startConsumerProcess(env);
    children.push(second.child);
    await waitFor(
      `lag 0 after restart (stderr: ${second.stderr()})`,
      async () => (await groupLag(admin, config.groupId, topic)).total === 0,
      120_000,
      500,
    );
    second.child.kill('SIGTERM');
    await second.exited;
    const stats = JSON.parse(second.line('STATS')!.slice('STATS '.length)) as { appended: number; deadLettered: number };

    const after = storeCounts(tp.dataDir);
    expect(after).toEqual({ touchpoints: N, distinct: N, registrations: 300 });
    // the restarted consumer was redelivered what was stored but uncommitted, and wrote it once only
    expect(stats.appended + atKill.touchpoints).toBeGreaterThan(N);
    expect(stats.deadLettered).toBe(0);
    const stored = new Set(await openIds(tp.dataDir));
    expect(envelopes.every((e) => stored.has(e.eventId))).toBe(true);
    await tp.dispose();
  });

  it('two consumers in the group with a rebalance in the middle: no loss, no duplicates', async () => {
    const topic = uniqueName('e2e.rebalance');
    topics.push(topic);
    await createTopic(admin, topic, 4);
    const run = uniqueName('run');
    const N = 4000;
    const first = Array.from({ length: N }, (_, i) => touchpoint(run, i, `reb-${i % 400}`));
    const later = Array.from({ length: 2000 }, (_, i) => touchpoint(run, N + i, `reb-${i % 400}`));
    const envelopes = [...first, ...later];
    await produce(kafka, topic, first.map(asMessage));

    const tp = tempPlatform();
    const config = ingestConfig(topic, { KAFKA_APPEND_CHUNK_SIZE: '50' });
    const port = ingestionPortFor(tp.platform.ingestion);
    let appended = 0;
    const slow = {
      ...port,
      append: async (c: TouchpointCommand[]) => {
        await port.append(c);
        appended += c.length;
        await sleep(15);
      },
    };
    const a = new KafkaIngestConsumer(kafka, config, slow);
    const b = new KafkaIngestConsumer(kafka, config, slow);
    try {
      await a.start();
      await waitFor('first consumer under way', () => appended >= 500);
      await b.start(); // joins: the group rebalances while a is mid-batch
      // more events after b joined: a fast first consumer may have drained the topic before the
      // rebalance gave b its partitions, and b must still find work there
      await produce(kafka, topic, later.map(asMessage));
      await waitFor('second consumer got partitions', () => b.stats.consumed > 0, 60_000);
      await waitFor('lag 0', async () => (await groupLag(admin, config.groupId, topic)).total === 0, 120_000, 500);
      expect(a.stats.consumed).toBeGreaterThan(0);
      const all = await tp.platform.store.readAll();
      const ids = all.filter((e) => e.type === 'contact.handled').map((e) => e.eventId);
      expect(ids).toHaveLength(envelopes.length);
      expect(new Set(ids)).toEqual(new Set(envelopes.map((e) => e.eventId)));
      expect(all.filter((e) => e.type === 'customer.registered')).toHaveLength(400);
    } finally {
      await a.stop();
      await b.stop();
      await tp.dispose();
    }
  });
});

async function openIds(dataDir: string): Promise<string[]> {
  const db = new Database(join(dataDir, 'events.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT event_id FROM events WHERE type = 'contact.handled'`).all() as { event_id: string }[]).map(
      (r) => r.event_id,
    );
  } finally {
    db.close();
  }
}
