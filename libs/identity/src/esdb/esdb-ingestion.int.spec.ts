import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { EsdbEventStore } from '@cem/event-store';
import { openPlatform, type Platform } from '@cem/platform';
import { EsdbDouble } from '../../../../test/support/esdb-double';
import { envelope, TEST_NOW } from '../../../../test/support/envelopes';
import { EsdbIdentityRegistry } from './esdb-identity-registry';

/**
 * Two "API instances" (two platforms, each with its own EventStoreDB client and no shared file)
 * ingesting through the real ingestion service into one server: the store and the identity
 * registry both live on EventStoreDB only.
 */
describe('ingestion on EventStoreDB alone (gRPC double), two instances', () => {
  let server: EsdbDouble;
  let dirs: string[];
  let platforms: Platform[];

  beforeEach(async () => {
    server = new EsdbDouble();
    const cs = await server.start();
    dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'cem-esdb-')));
    platforms = dirs.map((dir) => {
      const store = EsdbEventStore.connect(cs);
      return openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL' }), {
        now: () => TEST_NOW,
        store,
        registry: new EsdbIdentityRegistry(store.client),
      });
    });
  });
  afterEach(async () => {
    await Promise.all(platforms.map((p) => p.close()));
    server.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('never splits a customer and writes each event once', async () => {
    const shared = [{ kind: 'email', value: 'shared@example.com' }];
    const envelopes = Array.from({ length: 30 }, () => envelope({ customer: { identifiers: shared } }));
    const results = await Promise.all(envelopes.map((e, i) => platforms[i % 2].ingestion.ingest([e])));
    const customers = new Set(results.map((r) => r[0].customerId));
    expect(customers.size).toBe(1);
    const [customerId] = customers;

    // retries (another instance, same eventIds) are answered as duplicates, nothing written twice
    const again = await platforms[1].ingestion.ingest(envelopes.slice(0, 5));
    expect(again.every((r) => r.duplicate)).toBe(true);

    const stream = await platforms[0].store.readStream(`customer-${customerId}`);
    expect(stream[0].type).toBe('customer.registered');
    expect(stream.filter((e) => e.type === 'customer.registered')).toHaveLength(1);
    const ids = stream.map((e) => e.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const e of envelopes) expect(ids).toContain(e.eventId);

    // the global log shows our events only: no system, reservation or registry streams
    const all = await platforms[1].store.readAll();
    expect(all.every((e) => e.streamId.startsWith('customer-'))).toBe(true);
    expect(all.filter((e) => envelopes.some((x) => x.eventId === e.eventId))).toHaveLength(30);
  }, 60_000);
});
