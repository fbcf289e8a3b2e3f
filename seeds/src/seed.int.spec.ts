import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTouchpointType, type TouchpointType } from '@cem/domain';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import type { RecordedEvent } from '@cem/event-store';
import { DEFAULT_ANCHOR, SeedGenerator, type SeedManifest } from './generator';
import { ingestionSink, load, ndjsonSink } from './loader';

describe('seeding the embedded platform through the ingestion service', () => {
  let dir: string;
  let platform: Platform;
  let manifest: SeedManifest;
  let duplicatesAcknowledged = 0;
  const all: RecordedEvent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cem-seed-'));
    platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL' }), { now: () => Date.parse(DEFAULT_ANCHOR) });
    const gen = new SeedGenerator({ customers: 200, seed: 'int', duplicateRate: 0.01, lateRate: 0.03 });
    const progress = await load(gen, ingestionSink(platform.ingestion), { batchSize: 250 });
    duplicatesAcknowledged = progress.duplicatesAcknowledged;
    manifest = gen.manifest();
    for (let after = 0; ;) {
      const page = await platform.store.readAll({ after, maxCount: 5000 });
      if (page.length === 0) break;
      all.push(...page);
      after = page[page.length - 1].position;
    }
  }, 120_000);

  afterAll(async () => {
    await platform?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records every distinct event once; retries are acknowledged, not duplicated', () => {
    const touchpoints = all.filter((e) => isTouchpointType(e.type));
    expect(touchpoints).toHaveLength(manifest.events);
    expect(new Set(touchpoints.map((e) => e.eventId)).size).toBe(manifest.events);
    expect(manifest.duplicates).toBeGreaterThan(0);
    expect(duplicatesAcknowledged).toBe(manifest.duplicates);
  });

  it('merges identities as the manifest expects: one customer per person in the end', async () => {
    expect(all.filter((e) => e.type === 'customer.registered')).toHaveLength(manifest.registrations);
    expect(all.filter((e) => e.type === 'customers.merged')).toHaveLength(manifest.mergeEvents);
    expect(manifest.mergeEvents).toBeGreaterThan(50);

    const customerOf = new Map<string, string>();
    for (const person of manifest.people) {
      const ids = new Set<string | undefined>();
      for (const identifier of person.identifiers) ids.add(await platform.registry.lookup(identifier));
      expect([...ids]).toHaveLength(1);
      const id = [...ids][0];
      expect(id).toBeDefined();
      expect(customerOf.has(id!)).toBe(false);
      customerOf.set(id!, person.key);
    }
    expect(customerOf.size).toBe(manifest.customers);
  });

  it("files every person's events under their customer, with the expected counts per type", async () => {
    const canonical = new Map<string, string>();
    const byPerson = new Map<string, Partial<Record<TouchpointType, number>>>();
    const personOf = new Map<string, string>();
    for (const person of manifest.people) personOf.set((await platform.registry.lookup(person.identifiers[0]))!, person.key);
    for (const e of all) {
      if (!isTouchpointType(e.type)) continue;
      const recordedFor = (e.metadata as { customerId: string }).customerId;
      let id = canonical.get(recordedFor);
      if (!id) canonical.set(recordedFor, (id = (await platform.registry.canonicalId(recordedFor))!));
      const key = personOf.get(id)!;
      const counts = byPerson.get(key) ?? {};
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      byPerson.set(key, counts);
    }
    for (const person of manifest.people)
      expect({ key: person.key, counts: byPerson.get(person.key) }).toEqual({ key: person.key, counts: person.expected.byType });
  });

  it('keeps the occurredAt the generator chose and names the churners', () => {
    const churners = manifest.people.filter((p) => p.churner);
    expect(churners.length).toBeGreaterThan(15);
    const last = all
      .filter((e) => isTouchpointType(e.type))
      .reduce((m, e) => Math.max(m, Date.parse((e.metadata as { occurredAt: string }).occurredAt)), 0);
    expect(last).toBeLessThan(Date.parse(DEFAULT_ANCHOR));
  });

  it('writes the same envelopes to an NDJSON file', async () => {
    const file = join(dir, 'seed.ndjson');
    const gen = new SeedGenerator({ customers: 20, seed: 'int' });
    const sink = ndjsonSink(file);
    const p = await load(gen, sink);
    await sink.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(p.envelopes);
    const again = [...new SeedGenerator({ customers: 20, seed: 'int' }).envelopes()].map((e) => JSON.stringify(e));
    expect(lines).toEqual(again);
  });
});
