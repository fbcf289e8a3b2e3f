import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadMappingFile, runImport } from '@cem/backfill';
import { loadConfig } from '@cem/config';
import { openPlatform, type Platform } from '@cem/platform';
import { backtestOnLog, fitAndStoreChurnModel } from './churn-model-log';
import { ChurnFitError } from './model/fit-churn-model';

const REPO = resolve(__dirname, '../../../..');
const CDNOW = resolve(REPO, '../shared/data/cdnow-train/CDNOW_train.txt');
const DAY = 86_400_000;

/**
 * The bar of docs/churn-risk.md on a slice: CDNOW customers 1..6000 imported with the shipped
 * mapping, backtested at 1997-09-30 over 39 weeks. The risk model must rank better than BG/NBD
 * alone in the same run.
 */
describe('churn backtest on a CDNOW slice (imported with the shipped mapping)', () => {
  let dir: string;
  let platform: Platform;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cem-churn-'));
    const lines = readFileSync(CDNOW, 'utf8').split('\n');
    const slice = [lines[0], ...lines.slice(1).filter((l) => l.trim() !== '' && Number(l.trim().split(/\s+/)[0]) <= 6000)];
    writeFileSync(join(dir, 'slice.txt'), slice.join('\n') + '\n');
    platform = openPlatform(loadConfig({ DATA_DIR: join(dir, 'data'), SQLITE_SYNCHRONOUS: 'NORMAL', LOG_LEVEL: 'silent' }));
    const summary = await runImport({
      file: join(dir, 'slice.txt'),
      mapping: loadMappingFile(resolve(REPO, 'seeds/mappings/cdnow-purchases.json')),
      ingestion: platform.ingestion,
      stateDir: join(dir, 'import'),
      batchSize: 5000,
    });
    expect(summary.rowsRejected).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await platform.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ranks better than BG/NBD alone; figures are consistent with an independent count of the slice', async () => {
    const asOf = Date.parse('1997-09-30T00:00:00Z');
    const report = await backtestOnLog(platform.store, { asOf, horizonDays: 273 });
    expect(report.auc).toBeGreaterThan(report.baselineAuc);
    expect(report.baselineAuc).toBeGreaterThan(0.7);
    // churned = no purchase in [asOf, asOf + 39 weeks), counted from the file itself (dates are New York midnights)
    const lines = readFileSync(join(dir, 'slice.txt'), 'utf8').trim().split('\n').slice(1);
    const buyers = new Set<string>();
    const customers = new Set<string>();
    for (const l of lines) {
      const [id, d] = l.trim().split(/\s+/);
      customers.add(id);
      const at = Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T04:00:00Z`);
      if (at >= asOf && at < asOf + 273 * DAY) buyers.add(id);
    }
    // every customer of the slice first bought in Q1 1997: all are scored
    expect(report.customers).toBe(customers.size);
    expect(report.churned).toBe(customers.size - buyers.size);
    expect(report.bands.reduce((s, b) => s + b.customers, 0)).toBe(customers.size);
    expect(report.calibration).toHaveLength(10);
    // deterministic: the same log gives the same report
    expect(await backtestOnLog(platform.store, { asOf, horizonDays: 273 })).toEqual(report);
  }, 120_000);

  it('fit stores the next version as churn-model.fitted; a bad as-of writes nothing', async () => {
    const asOf = Date.parse('1997-09-30T00:00:00Z');
    const first = await fitAndStoreChurnModel(platform.store, { asOf, horizonDays: 90 });
    const second = await fitAndStoreChurnModel(platform.store, { asOf, horizonDays: 90 });
    expect([first.version, second.version]).toEqual([1, 2]);
    expect({ ...second, version: 1 }).toEqual(first);
    const models = await platform.store.readStream('churn-model');
    expect(models.map((e) => e.type)).toEqual(['churn-model.fitted', 'churn-model.fitted']);
    await expect(fitAndStoreChurnModel(platform.store, { asOf: Date.parse('1996-01-01T00:00:00Z'), horizonDays: 90 })).rejects.toThrow(
      ChurnFitError,
    );
    await expect(fitAndStoreChurnModel(platform.store, { asOf: Date.parse('1997-01-05T00:00:00Z'), horizonDays: 90 })).rejects.toThrow(
      /at least 14 are needed/,
    );
    expect(await platform.store.readStream('churn-model')).toHaveLength(2);
  }, 120_000);
});
