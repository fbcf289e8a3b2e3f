import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '@cem/config';
import { openPlatform } from '@cem/platform';
import { auc, churnFactsFromLog, FEATURE_NAMES } from '@cem/read-models/churn-risk';
import { DEFAULT_ANCHOR, DEFAULT_SEED, SeedGenerator } from './generator';
import { ingestionSink, load } from './loader';
import { seededChurnAuc, type SeededAucReport } from './churn-auc';

/**
 * `npm run seed:churn-auc -- --customers N [--seed S]`: seeds N customers into a throw-away embedded
 * platform, then prints how well the churn-risk score (a model fitted on that log) ranks the
 * generator's known churners above the rest, next to recency alone and to the planted signals
 * alone (docs/churn-risk.md).
 */
const DAY = 86_400_000;
const program = new Command()
  .name('seed:churn-auc')
  .requiredOption('--customers <n>', 'how many customers to seed', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 100 || n > 1_000_000) throw new InvalidArgumentError('an integer from 100 to 1,000,000');
    return n;
  })
  .option('--seed <s>', 'PRNG seed', DEFAULT_SEED)
  .option('--before-days <d>', 'the `before` as-of instant: this many days before the anchor', '180');

async function main(): Promise<void> {
  const o = program.parse(process.argv).opts<{ customers: number; seed: string; beforeDays: string }>();
  const anchor = Date.parse(DEFAULT_ANCHOR);
  const dir = mkdtempSync(join(tmpdir(), 'cem-churn-auc-'));
  const platform = openPlatform(loadConfig({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }), { now: () => anchor });
  try {
    const gen = new SeedGenerator({ customers: o.customers, seed: o.seed });
    console.log(`seeding ${o.customers.toLocaleString('en')} customers (seed "${o.seed}", anchor ${DEFAULT_ANCHOR})`);
    await load(gen, ingestionSink(platform.ingestion), {
      onProgress: (p) => console.log(`  ${p.envelopes.toLocaleString('en')} events (${p.rate.toLocaleString('en')} events/s)`),
    });
    const manifest = gen.manifest();
    console.log('reading the churn facts from the log');
    const facts = await churnFactsFromLog(platform.store);
    const lookup = (id: Parameters<typeof platform.registry.lookup>[0]) => platform.registry.lookup(id);
    const print = (r: SeededAucReport) => {
      console.log(`${r.kind}: as of ${r.asOf}`);
      for (const [label, f] of [
        ['every customer known then', r],
        ['without the prospects', r.withoutProspects],
      ] as const) {
        console.log(`  ${label}: ${f.churners} churners, ${f.others} others`);
        console.log(`    AUC of the churn-risk score           ${f.auc.toFixed(4)}`);
        console.log(`    AUC of days since last touch alone    ${f.recencyAuc.toFixed(4)}`);
        console.log(`    AUC of the planted factors alone      ${f.plantedAuc.toFixed(4)}`);
        console.log(`    AUC of the score less planted factors ${f.withoutPlantedAuc.toFixed(4)}`);
      }
      // each factor's contribution alone (below 0.5: it ranks the churners below the rest)
      const people = r.people.filter((p) => p.lifecycle !== 'prospect');
      const labels = people.map((p) => p.churner);
      const perFactor = FEATURE_NAMES.map(
        (name) =>
          `${name} ${auc(
            people.map((p) => p.contributions[name] ?? 0),
            labels,
          ).toFixed(2)}`,
      );
      console.log(`  each factor's contribution alone, without the prospects: ${perFactor.join(', ')}`);
    };
    print(await seededChurnAuc(platform.store, lookup, manifest, { asOf: anchor, kind: 'after', facts }));
    print(await seededChurnAuc(platform.store, lookup, manifest, { asOf: anchor - Number(o.beforeDays) * DAY, kind: 'before', facts }));
  } finally {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
