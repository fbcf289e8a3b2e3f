import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { importFixture } from '../../test/import-fixture';
import { loadMappingFile } from './import-state';
import { runImport } from './run-import';

const repoRoot = resolve(__dirname, '..', '..', '..', '..');
const dataDir = resolve(repoRoot, '..', 'shared', 'data');
const CDNOW = join(dataDir, 'cdnow-train', 'CDNOW_train.txt');
const TELCO = join(dataDir, 'telco', 'Telco-Customer-Churn.csv');
const present = existsSync(CDNOW) && existsSync(TELCO);
if (!present) {
  if (process.env.CI === 'true') throw new Error(`shared data missing at ${dataDir}: the shipped-mapping tests need ../shared/data`);
  console.warn(`SKIPPING shipped-mapping tests: shared data not found at ${dataDir}`);
}
const describeData = present ? describe : describe.skip;

/** The first `rows` records of a data file (header kept), as the slice under test. */
const slice = (path: string, rows: number) =>
  readFileSync(path, 'latin1')
    .split('\n')
    .slice(0, rows + 1)
    .join('\n') + '\n';

describeData('shipped example mappings on slices of the real data sets', () => {
  let fx: ReturnType<typeof importFixture>;
  beforeEach(() => (fx = importFixture()));
  afterEach(() => fx.close());

  it('CDNOW: every purchase row becomes one purchase.completed; a re-run imports nothing new', async () => {
    const text = slice(CDNOW, 3000);
    const file = fx.file('cdnow.txt', text);
    const mapping = loadMappingFile(join(repoRoot, 'seeds', 'mappings', 'cdnow-purchases.json'));
    const rows = text
      .split('\n')
      .slice(1)
      .filter((l) => l.trim() !== '');
    const customers = new Set(rows.map((l) => l.trim().split(/\s+/)[0]));

    const s = await runImport({ file, mapping, ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 1000 });
    expect(s).toMatchObject({
      status: 'completed',
      rowsRead: 3000,
      eventsImported: 3000,
      eventsDuplicate: 0,
      rowsRejected: 0,
      rowsFiltered: 0,
    });
    const log = await fx.platform.store.readAll({});
    expect(log.filter((e) => e.type === 'customer.registered')).toHaveLength(customers.size);
    const first = log.find((e) => e.type === 'purchase.completed')!;
    expect(first.data).toEqual({ orderId: 'cdnow-00001-19970101-2', amount: 11.77, currency: 'USD', items: 1, productCategory: 'music' });
    expect((first.metadata as { occurredAt: string }).occurredAt).toBe('1997-01-01T05:00:00.000Z'); // midnight in New York

    const again = await runImport({ file, mapping, ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 1000 });
    expect(again).toMatchObject({ rowsRead: 3000, eventsImported: 0, eventsDuplicate: 3000 });
    expect(await fx.platform.store.readAll({}).then((l) => l.length)).toBe(log.length);
  });

  it('Telco: a start and a paperless-billing consent per customer, a cancellation per churner, at the documented synthetic dates', async () => {
    const text = slice(TELCO, 1000);
    const file = fx.file('telco.csv', text);
    const mapping = loadMappingFile(join(repoRoot, 'seeds', 'mappings', 'telco-subscriptions.json'));
    const churners = text
      .split('\n')
      .slice(1)
      .filter((l) => l.trim().endsWith(',Yes')).length;
    expect(churners).toBeGreaterThan(100);

    const s = await runImport({ file, mapping, ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(s).toMatchObject({ status: 'completed', rowsRead: 1000, eventsImported: 2000 + churners, rowsRejected: 0 });
    expect(await fx.countByType()).toEqual({ 'subscription.started': 1000, 'consent.changed': 1000, 'subscription.cancelled': churners });

    const log = await fx.platform.store.readAll({});
    const started = log.find((e) => e.type === 'subscription.started')!; // 7590-VHVEG: tenure 1, month-to-month, 29.85
    expect(started.data).toEqual({ subscriptionId: 'telco-7590-VHVEG', plan: 'month-to-month', monthlyAmount: 29.85, currency: 'USD' });
    expect((started.metadata as { occurredAt: string }).occurredAt).toBe('2018-01-01T00:00:00.000Z');
    const cancelled = log.find((e) => e.type === 'subscription.cancelled')!;
    expect((cancelled.metadata as { occurredAt: string }).occurredAt).toBe('2018-02-01T12:00:00.000Z');

    const again = await runImport({ file, mapping, ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(again).toMatchObject({ eventsImported: 0, eventsDuplicate: 2000 + churners });
  });
});
