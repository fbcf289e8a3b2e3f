import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cem/config';
import { eraseCustomer, openPlatform } from '@cem/platform';
import { makeEnvelopes } from './ingest.bench';
import { measurePaired, progress, record, spread } from './report';

const SECRETS = { PRIVACY_MASTER_KEY: randomBytes(32).toString('base64'), PRIVACY_INDEX_SECRET: randomBytes(32).toString('base64') };

/**
 * Personal-data encryption (docs/privacy.md): the in-process write path (validation, identity,
 * durable append) and a read of the whole log, each without and with encryption, in the same run
 * (paired rounds, alternating which goes first, fresh data directories); and the erasure of one
 * customer with 10,000 events.
 */
export async function benchPrivacy(options: { events: number; batchSize: number; eventsPerCustomer: number }): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'cem-bench-privacy-'));
  try {
    console.log(`\n# privacy: ${options.events.toLocaleString('en-US')} events, batches of ${options.batchSize}, encryption off vs on`);
    const envelopes = makeEnvelopes(options.events, options.eventsPerCustomer);
    const dirs: string[] = [];
    const ingest = async (label: string, round: number, encrypted: boolean): Promise<number> => {
      const dir = join(root, `${label}-${round}`);
      dirs.push(dir);
      const platform = openPlatform(
        loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'FULL', LOG_LEVEL: 'silent', ...(encrypted ? SECRETS : {}) }),
      );
      try {
        const t0 = performance.now();
        for (let i = 0; i < envelopes.length; i += options.batchSize) {
          await platform.ingestion.ingest(envelopes.slice(i, i + options.batchSize));
          progress(`ingest (${label})`, Math.min(i + options.batchSize, envelopes.length), envelopes.length, t0);
        }
        return envelopes.length / ((performance.now() - t0) / 1000);
      } finally {
        await platform.close();
      }
    };
    const write = await measurePaired(
      3,
      (round) => ingest('plain', round, false),
      (round) => ingest('encrypted', round, true),
    );
    record({
      group: 'privacy',
      name: 'in-process ingest, encryption off',
      value: write.a,
      unit: 'events/s',
      note: `median, ${spread(write.aRuns)}`,
    });
    record({
      group: 'privacy',
      name: 'in-process ingest, encryption on',
      value: write.b,
      unit: 'events/s',
      note: `${write.ratio.toFixed(2)}x slower than off (median of 3 alternating rounds; target <= 1.3x); ${spread(write.bRuns)}`,
    });

    // what a rebuild reads: the whole log through the store port, decrypted when encrypted
    const readAll = async (encrypted: boolean, round: number): Promise<number> => {
      const dir = join(root, `${encrypted ? 'encrypted' : 'plain'}-${round}`);
      const platform = openPlatform(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent', ...(encrypted ? SECRETS : {}) }));
      try {
        const t0 = performance.now();
        let n = 0;
        for (let after = 0; ;) {
          const page = await platform.store.readAll({ after, maxCount: 5000 });
          if (page.length === 0) break;
          n += page.length;
          after = page[page.length - 1].position;
        }
        return n / ((performance.now() - t0) / 1000);
      } finally {
        await platform.close();
      }
    };
    const read = await measurePaired(
      3,
      (round) => readAll(false, round),
      (round) => readAll(true, round),
    );
    record({
      group: 'privacy',
      name: 'read of the whole log (what a rebuild reads), plaintext',
      value: read.a,
      unit: 'events/s',
      note: spread(read.aRuns),
    });
    record({
      group: 'privacy',
      name: 'same, decrypted',
      value: read.b,
      unit: 'events/s',
      note: `${read.ratio.toFixed(2)}x slower than plaintext (median of 3 alternating rounds; target <= 1.3x); ${spread(read.bRuns)}`,
    });

    // erasure of one customer with 10,000 events
    const dir = join(root, 'erase');
    const platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'FULL', LOG_LEVEL: 'silent', ...SECRETS }));
    try {
      const one = makeEnvelopes(10_000, 10_000);
      for (let i = 0; i < one.length; i += options.batchSize) await platform.ingestion.ingest(one.slice(i, i + options.batchSize));
      const [{ customerId }] = await platform.ingestion.ingest([one[0]]);
      const t0 = performance.now();
      const certificate = await eraseCustomer(platform, { customerId, reason: 'bench', requestedBy: { kind: 'named', name: 'bench' } });
      record({
        group: 'privacy',
        name: 'erasure of one customer with 10,000 events (cem erase)',
        value: (performance.now() - t0) / 1000,
        unit: 's',
        note: `${certificate.encryptedEvents.toLocaleString('en-US')} events made unreadable`,
      });
    } finally {
      await platform.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
