import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { customerStreamId } from '@cem/domain';
import type { EventStore } from '@cem/event-store';
import { openPlatform, type Platform } from '@cem/platform';
import { envelope, TEST_NOW } from '../../../test/support/envelopes';
import { IngestionService } from './ingestion.service';

/**
 * Two writers (two IngestionService instances, as two processes would have) on one store and one
 * registry. Writer A registers a new customer in the registry and is held before its append; writer
 * B then merges that customer away. Found by the concurrent-process test in CI: B's merge pointer
 * opened A's customer stream, and A's registration landed at revision 1.
 */
describe('ingestion: a merge that reaches a customer whose registering writer has not appended yet', () => {
  let dataDir: string;
  let platform: Platform;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'cem-race-'));
    platform = openPlatform(loadConfig({ DATA_DIR: dataDir }), { now: () => TEST_NOW });
  });
  afterEach(async () => {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Writer A: its first streamRevisions call waits until `release` is called. */
  function heldWriter() {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reachedAppend!: () => void;
    const atAppend = new Promise<void>((r) => (reachedAppend = r));
    let held = false;
    const store = new Proxy(platform.store, {
      get(target, prop, receiver) {
        if (prop === 'streamRevisions') {
          return async (ids: string[]) => {
            if (!held) {
              held = true;
              reachedAppend();
              await gate;
            }
            return target.streamRevisions(ids);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as EventStore;
    const ingestion = new IngestionService(store, platform.registry, { now: () => TEST_NOW, maxFutureSkewMs: 300_000 });
    return { ingestion, release, atAppend };
  }

  const email = (n: string) => ({ kind: 'email' as const, value: `${n}@example.com` });

  async function streamTypes(customerId: string) {
    return (await platform.store.readStream(customerStreamId(customerId))).map((e) => e.type);
  }

  it('opens the new stream with the registration, and the held writer still records its event', async () => {
    const [older] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [email('older')] } })]);

    const a = heldWriter();
    const aEvent = envelope({ customer: { identifiers: [email('newer')] } });
    const aDone = a.ingestion.ingest([aEvent]);
    await a.atAppend; // A has registered "newer" as a new customer and not appended yet
    const newer = await platform.registry.lookup(email('newer'));
    expect(newer).toBeDefined();
    expect(newer).not.toBe(older.customerId);

    // B sees both identifiers on one event: "newer" is merged into the older customer
    const [merged] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [email('older'), email('newer')] } })]);
    expect(merged.customerId).toBe(older.customerId);
    expect(await streamTypes(newer!)).toEqual(['customer.registered', 'customer.merged-into']);

    a.release();
    const [aResult] = await aDone;
    expect(aResult.eventId).toBe(aEvent.eventId);
    expect(aResult.duplicate).toBe(false);
    // one registration, first; A's event after it (the projections follow the pointer)
    expect(await streamTypes(newer!)).toEqual(['customer.registered', 'customer.merged-into', 'contact.handled']);
    const registrations = (await platform.store.readAll({})).filter((e) => e.type === 'customer.registered');
    expect(registrations.map((r) => r.revision)).toEqual([0, 0]);
    const reg = (await platform.store.readStream(customerStreamId(newer!)))[0];
    expect(reg.data).toEqual({ customerId: newer, identifiers: [] });
  });

  it('registers a customer that one batch both creates and merges away before its touch point', async () => {
    const [older] = await platform.ingestion.ingest([envelope({ customer: { identifiers: [email('old')] } })]);
    // event 1 registers "fresh"; event 2 links it to the older customer, so the batch merges it away
    const results = await platform.ingestion.ingest([
      envelope({ customer: { identifiers: [email('fresh')] } }),
      envelope({ customer: { identifiers: [email('old'), email('fresh')] } }),
    ]);
    expect(results[1].customerId).toBe(older.customerId);
    const all = await platform.store.readAll({});
    for (const streamId of new Set(all.map((e) => e.streamId))) {
      const types = all.filter((e) => e.streamId === streamId).map((e) => e.type);
      expect(types.filter((t) => t === 'customer.registered')).toHaveLength(1);
      expect(types[0]).toBe('customer.registered');
    }
  });
});
