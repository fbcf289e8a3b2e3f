import { readFileSync } from 'node:fs';
import { importFixture } from '../../test/import-fixture';
import { parseMapping } from '../mapping/parse-mapping';
import { runImport } from './run-import';

// a ticket activity log: one row per step, customers named like `Value 22`, cases whose first row is not "inserted"
const LOG = [
  'case,step,at,customer,aliases',
  'C1,inserted,2024-01-01T10:00:00Z,Value 22,',
  'C1,resolved,2024-01-02T10:00:00Z,Value 22,',
  'C2,assigned,2024-01-01T11:00:00Z,ACME / 0042,A 1|B2',
  'C2,inserted,2024-01-01T10:30:00Z,ACME / 0042,',
  ',inserted,2024-01-01T12:00:00Z,Value 22,',
  'C3,"  resolved  ",2024-01-03T10:00:00Z,"  Value 23 ",',
  'C1,reopened,2024-01-04T10:00:00Z,Value 22,',
].join('\n');

const mapping = () =>
  parseMapping({
    name: 'tickets',
    source: 'helpdesk',
    input: { format: 'csv' },
    key: ['case', 'step', 'at'],
    events: [
      {
        name: 'opened',
        firstOf: ['case'],
        type: 'case.opened',
        occurredAt: { column: 'at' },
        channel: 'email',
        customer: [{ kind: 'external', value: { template: 'helpdesk:{customer}', transform: ['externalId'] } }],
        data: { caseId: { column: 'case', transform: ['lower'] } },
      },
      {
        name: 'linked',
        when: [{ column: 'aliases', empty: false }],
        type: 'identifiers.linked',
        occurredAt: { column: 'at' },
        channel: 'email',
        customer: [{ kind: 'external', value: { template: 'helpdesk:{customer}', transform: ['externalId'] } }],
        data: {
          identifiers: {
            identifiers: [
              { kind: 'external', value: { column: 'aliases', transform: [{ split: '|' }, { prefix: 'shop:' }, 'externalId'] } },
            ],
          },
        },
      },
    ],
  });

describe('mapping language on a real-looking export', () => {
  let fx: ReturnType<typeof importFixture>;
  beforeEach(() => (fx = importFixture()));
  afterEach(() => fx.close());

  it('one case.opened per case in file order, encoded external ids, identifier lists; a re-run appends nothing', async () => {
    const file = fx.file('log.csv', `${LOG}\n`);
    const first = await runImport({ file, mapping: mapping(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(first).toMatchObject({ status: 'completed', rowsRead: 7, rowsRejected: 1, eventsImported: 4 });
    expect(readFileSync(first.rejectFile, 'utf8')).toBe(
      'line,event,field,reason\n6,opened,firstOf,"column ""case"" is empty: the first-of-key rule needs a key"\n' +
        '6,opened,data.caseId,"column ""case"" is empty"\n',
    );
    expect(await fx.countByType()).toEqual({ 'case.opened': 3, 'identifiers.linked': 1 });
    const events = (await fx.platform.store.readAll({})).filter((e) => e.type !== 'customer.registered');
    const opened = events.filter((e) => e.type === 'case.opened');
    expect(opened.map((e) => [e.data, (e.metadata as { occurredAt?: string }).occurredAt])).toEqual([
      [{ caseId: 'c1' }, '2024-01-01T10:00:00.000Z'],
      [{ caseId: 'c2' }, '2024-01-01T11:00:00.000Z'], // file order: the first row, not the earliest
      [{ caseId: 'c3' }, '2024-01-03T10:00:00.000Z'],
    ]);
    expect(events.find((e) => e.type === 'identifiers.linked')!.data).toEqual({
      identifiers: [
        { kind: 'external', value: 'shop:A%201' },
        { kind: 'external', value: 'shop:B2' },
      ],
    });
    const again = await runImport({ file, mapping: mapping(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(again).toMatchObject({ status: 'completed', eventsImported: 0, eventsDuplicate: 4 });
  });

  it('a resumed import still emits each first-of-key event once', async () => {
    const file = fx.file('log.csv', `${LOG}\n`);
    const abort = new AbortController();
    const first = await runImport({
      file,
      mapping: mapping(),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir(),
      batchSize: 1,
      signal: abort.signal,
      onProgress: (p) => p.rowsRead >= 2 && abort.abort(),
    });
    expect(first.status).toBe('interrupted');
    const second = await runImport({ file, mapping: mapping(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 1 });
    expect(second).toMatchObject({ status: 'completed', rowsRead: 7, eventsImported: 4, eventsDuplicate: 0 });
    expect(await fx.countByType()).toEqual({ 'case.opened': 3, 'identifiers.linked': 1 });
  });
});
