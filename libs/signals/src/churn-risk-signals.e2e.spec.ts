import { join } from 'node:path';
import { loadSignalsConfig, silentLogger } from '@cem/config';
import { createKafka } from '@cem/kafka';
import { SystemEventScheduler, startProjector, openSqliteReadStore } from '@cem/read-models';
import { churnRescoringJob, churnRisk, CHURN_RESCORING_JOB, type ChurnRiskQueries } from '@cem/read-models/churn-risk';
import { describeWithKafka, readAllMessages, TEST_BROKERS, testKafka, uniqueName } from '../../../test/support/kafka-test-env';
import { platformWithHistory, type LoadedPlatform } from '../../../test/support/read-side-harness';
import { CustomerSignalPublisher } from './signal-publisher';
import type { ChurnRiskChangedSignal, CustomerSignal } from './signal.schema';
import { SignalStateStore } from './signal-state.store';

jest.setTimeout(240_000);

/**
 * The whole path of a band change to the signal topic on the real broker: generated histories are
 * projected into the churn-risk read model, the scheduled re-scoring appends churn-risk.changed,
 * and the publisher turns each into one customer.churn-risk-changed signal.
 */
describeWithKafka('churn-risk band changes on the customer-signals topic (real broker)', () => {
  let loaded: LoadedPlatform;
  const topic = uniqueName('cem.customer-signals.churn');
  const kafka = testKafka('signals-churn-e2e');

  beforeAll(async () => {
    loaded = await platformWithHistory({ seed: 12, persons: 80, eventsPerPerson: [5, 25], lateShare: 0.05 });
  }, 120_000);
  afterAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await loaded.cleanup();
  });

  it('each churn-risk.changed of the re-scoring arrives once as customer.churn-risk-changed, keyed by customer, with the top factor by name', async () => {
    const readStore = await openSqliteReadStore(join(loaded.dir, 'read.db'), { readModels: [churnRisk] });
    const running = await startProjector({ store: loaded.platform.store, db: readStore.db, readModels: [churnRisk], batchSize: 250 });
    const queries = churnRisk.queries(readStore.db as never, { now: () => loaded.history.now }) as ChurnRiskQueries;
    const scheduler = new SystemEventScheduler({
      store: loaded.platform.store,
      jobs: [churnRescoringJob(queries, (p, t) => running.projector.whenCaughtUp(p, t), 60_000)],
    });
    const run = await scheduler.runNow(CHURN_RESCORING_JOB, loaded.history.now);
    await running.close();
    await readStore.close();
    expect(run.appended).toBeGreaterThan(0);
    const changes = (await loaded.platform.store.readAll({ after: 0, maxCount: 1_000_000 })).filter((e) => e.type === 'churn-risk.changed');

    const config = loadSignalsConfig({
      KAFKA_BROKERS: TEST_BROKERS.join(','),
      KAFKA_CLIENT_ID: 'signals-churn-e2e',
      KAFKA_SIGNALS_TOPIC: topic,
      KAFKA_SIGNALS_PARTITIONS: '2',
      KAFKA_CREATE_TOPICS: 'true',
      KAFKA_RETRY_INITIAL_MS: '50',
      KAFKA_RETRY_MAX_MS: '500',
      KAFKA_LOG_LEVEL: 'error',
    });
    const states = new SignalStateStore(join(loaded.dir, 'signals.db'), 'NORMAL');
    const publisher = new CustomerSignalPublisher(createKafka(config, silentLogger), config, loaded.platform.store, states, silentLogger);
    try {
      await publisher.start();
      expect(await publisher.whenPublished()).toBe(true);
    } finally {
      await publisher.stop();
      states.close();
    }

    const got = (await readAllMessages(kafka, topic))
      .map((m) => ({ key: m.key?.toString(), headers: m.headers, value: m.value!.toString() }))
      .filter((m) => m.headers['signal.type'] === 'customer.churn-risk-changed');
    expect(got).toHaveLength(changes.length);
    const bySource = new Map(got.map((m) => [(JSON.parse(m.value) as CustomerSignal).source.eventId, m]));
    for (const e of changes) {
      const m = bySource.get(e.eventId)!;
      const signal = JSON.parse(m.value) as ChurnRiskChangedSignal;
      const d = e.data as {
        customerId: string;
        fromBand: string | null;
        band: string;
        probability: number;
        asOf: string;
        topFactors: string[];
      };
      expect(m.key).toBe(d.customerId);
      expect(m.headers['signal.id']).toBe(signal.signalId);
      expect(signal).toMatchObject({
        type: 'customer.churn-risk-changed',
        customerId: d.customerId,
        source: { eventId: e.eventId, eventType: 'churn-risk.changed', position: e.position },
        data: { fromBand: d.fromBand, band: d.band, probability: d.probability, asOf: d.asOf, topFactor: d.topFactors[0] ?? null },
      });
      expect(signal.data.model).toEqual({ name: expect.any(String), version: expect.any(Number) });
    }
    // band and numbers only: no identifier of the generated persons (emails, phones) in any churn signal
    expect(got.some((m) => /@|\+\d{6,}/.test(m.value))).toBe(false);
  });
});
