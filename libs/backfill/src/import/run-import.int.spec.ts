import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TouchpointCommand } from '@cem/domain';
import { importFixture } from '../../test/import-fixture';
import { MappingError, parseMapping } from '../mapping/parse-mapping';
import { ImportFileError } from '../reader/read-records';
import { CHECKPOINT_FILE } from './checkpoint';
import { formatSummary } from './progress';
import { runImport, type IngestionPort } from './run-import';

const shop = (input: Record<string, unknown> = {}, amount: Record<string, unknown> = {}) =>
  parseMapping({
    name: 'shop',
    source: 'shop',
    input: { format: 'csv', separator: ',', header: true, ...input },
    key: ['order'],
    events: [
      {
        name: 'purchase',
        type: 'purchase.completed',
        occurredAt: { column: 'date', type: 'date', format: 'YYYYMMDD', timeZone: 'Europe/Amsterdam' },
        channel: 'web',
        customer: [{ kind: 'email', value: { column: 'email' } }],
        data: {
          orderId: { column: 'order' },
          amount: { column: 'amount', type: 'number', ...amount },
          currency: 'EUR',
          productCategory: { column: 'category', optional: true },
        },
      },
    ],
  });

const rows = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => `o${from + i},2024010${(i % 9) + 1},c${(from + i) % 7}@example.com,${(from + i) % 50}.5,books`).join(
    '\n',
  );
const HEADER = 'order,date,email,amount,category\n';

const rejectLines = (path: string) => readFileSync(path, 'utf8').trim().split('\n');

describe('runImport on the embedded store', () => {
  let fx: ReturnType<typeof importFixture>;
  beforeEach(() => (fx = importFixture()));
  afterEach(() => fx.close());

  it('imports every row, and a re-run imports nothing new', async () => {
    const file = fx.file('shop.csv', `${HEADER}${rows(250)}\n`);
    const first = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 100 });
    expect(first).toMatchObject({
      status: 'completed',
      rowsRead: 250,
      eventsImported: 250,
      eventsDuplicate: 0,
      rowsRejected: 0,
      rowsFiltered: 0,
    });
    expect(existsSync(join(fx.stateDir(), CHECKPOINT_FILE))).toBe(false);
    const again = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 100 });
    expect(again).toMatchObject({ status: 'completed', rowsRead: 250, eventsImported: 0, eventsDuplicate: 250 });
    expect(await fx.countByType()).toEqual({ 'purchase.completed': 250 });
    const [e] = await fx.platform.store.readAll({ maxCount: 2 }).then((es) => es.filter((x) => x.type === 'purchase.completed'));
    expect(e.data).toEqual({ orderId: 'o1', amount: 1.5, currency: 'EUR', productCategory: 'books' });
  });

  it('resumes an interrupted import from its checkpoint, importing each row once', async () => {
    const file = fx.file('shop.csv', `${HEADER}${rows(40)}\no41,2024-01-01,c1@example.com,1,x\n${rows(59, 42)}\n`);
    const abort = new AbortController();
    const first = await runImport({
      file,
      mapping: shop(),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir(),
      batchSize: 30,
      signal: abort.signal,
      onProgress: (p) => p.rowsRead >= 60 && abort.abort(),
    });
    expect(first.status).toBe('interrupted');
    expect(first.rowsRead).toBe(61); // the batch that reached 30 events ends at row 61 (row 41 is rejected)
    expect(existsSync(join(fx.stateDir(), CHECKPOINT_FILE))).toBe(true);

    const second = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 30 });
    expect(second).toMatchObject({
      status: 'completed',
      resumedAfterRecords: 61,
      rowsRead: 100,
      eventsImported: 99,
      eventsDuplicate: 0,
      rowsRejected: 1,
    });
    expect(await fx.countByType()).toEqual({ 'purchase.completed': 99 });
    expect(rejectLines(second.rejectFile)).toEqual([
      'line,event,field,reason',
      '42,purchase,occurredAt,"column ""date"": ""2024-01-01"" does not match the format YYYYMMDD"',
    ]);
  });

  it('resumes after a crash in the middle of the file; the batch in flight is redone, not doubled', async () => {
    const file = fx.file('shop.csv', `${HEADER}${rows(100)}\n`);
    let calls = 0;
    const crashing: IngestionPort = {
      validate: (raw) => fx.platform.ingestion.validate(raw),
      appendCommands: async (commands: TouchpointCommand[]) => {
        if (++calls === 3) {
          await fx.platform.ingestion.appendCommands(commands.slice(0, 5)); // half a batch reached the store
          throw new Error('power cut');
        }
        return fx.platform.ingestion.appendCommands(commands);
      },
    };
    await expect(runImport({ file, mapping: shop(), ingestion: crashing, stateDir: fx.stateDir(), batchSize: 20 })).rejects.toThrow(
      'power cut',
    );
    const resumed = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 20 });
    expect(resumed).toMatchObject({ status: 'completed', resumedAfterRecords: 40, rowsRead: 100, eventsImported: 95, eventsDuplicate: 5 });
    expect(await fx.countByType()).toEqual({ 'purchase.completed': 100 });
  });

  it('refuses a mapping whose columns are not in the file, before importing anything', async () => {
    const file = fx.file('shop.csv', `order,day,email,amount,category\n${rows(3)}\n`);
    const err = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() }).catch((e) => e);
    expect(err).toBeInstanceOf(MappingError);
    expect(err.problems).toEqual([
      { path: 'events[0].occurredAt.column', reason: 'column "date" is not in the file; columns are: order, day, email, amount, category' },
    ]);
    expect(await fx.platform.store.headPosition()).toBe(0);
    expect(existsSync(join(fx.stateDir(), 'rejects.csv'))).toBe(false); // no empty reject report left behind
  });

  it('reports rows repeated within the file apart from events an earlier import recorded', async () => {
    const file = fx.file('shop.csv', [HEADER + rows(5), rows(2), rows(5).split('\n')[4], ''].join('\n'));
    const first = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 3 });
    expect(first).toMatchObject({ rowsRead: 8, eventsImported: 5, eventsDuplicate: 3, eventsRepeatedInFile: 3, rowsRejected: 0 });
    expect(formatSummary(first)).toMatch(/duplicates: +0 \(already recorded by an earlier import.*\n.*repeated in file: +3/);
    const again = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir(), batchSize: 3 });
    expect(again).toMatchObject({ eventsImported: 0, eventsDuplicate: 8, eventsRepeatedInFile: 0 });
  });

  it('trims blanks inside quoted cells too (input.trim, default true)', async () => {
    const file = fx.file('shop.csv', `${HEADER}"  o1 ",20240101," c1@example.com ","1.5 ","  books  "\n`);
    await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    const [e] = (await fx.platform.store.readAll({})).filter((x) => x.type === 'purchase.completed');
    expect(e.data).toEqual({ orderId: 'o1', amount: 1.5, currency: 'EUR', productCategory: 'books' });
    const kept = fx.file('kept.csv', `${HEADER}o2,20240101,c1@example.com,1.5," books "\n`);
    await runImport({ file: kept, mapping: shop({ trim: false }), ingestion: fx.platform.ingestion, stateDir: fx.stateDir('k') });
    const e2 = (await fx.platform.store.readAll({})).find((x) => (x.data as { orderId?: string }).orderId === 'o2')!;
    expect((e2.data as { productCategory: string }).productCategory).toBe(' books ');
  });

  it('rejects bad rows with line, field and reason, and imports the good ones', async () => {
    const file = fx.file(
      'shop.csv',
      HEADER +
        [
          'o1,20240101,a@example.com,10,books', // line 2: fine
          'o2,20241399,b@example.com,10,books', // 3: unparseable date
          'o3,20240101,,10,books', // 4: empty identifier cell
          'o4,20240101,d@example.com,"1,234.50",books', // 5: thousands separator
          'o5,20240101,not-an-email,10,books', // 6: identifier refused by the domain
          'o6,20240101,f@example.com,-3,books', // 7: refused by the HTTP DTO (Min 0)
          'o7,20240101,g@example.com,10', // 8: truncated last line, no line end
        ].join('\n'),
    );
    const s = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(s).toMatchObject({ rowsRead: 7, eventsImported: 1, rowsRejected: 6 });
    expect(rejectLines(s.rejectFile)).toEqual([
      'line,event,field,reason',
      '3,purchase,occurredAt,"column ""date"": ""20241399"" has month 13"',
      '4,purchase,customer.identifiers.0.value,"column ""email"" is empty"',
      '5,purchase,data.amount,"column ""amount"": ""1,234.50"" is not a number (it has a thousands separator: set ""thousands"" and ""decimal"" on this value)"',
      '6,purchase,customer.identifiers.0.value,is not a valid email address',
      '7,purchase,data.amount,must not be less than 0',
      '8,,,"line has 4 fields, the header has 5: it is the last line and has no line end, so the file looks truncated"',
    ]);
    const fixed = await runImport({
      file,
      mapping: shop({}, { thousands: ',' }),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('fixed'),
    });
    expect(fixed.eventsImported).toBe(1); // o4 now reads as 1234.5
  });

  it('reports a quote left open by a truncated file', async () => {
    const file = fx.file('shop.csv', `${HEADER}o1,20240101,a@example.com,10,books\no2,20240101,b@example.com,10,"boo`);
    const s = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(s).toMatchObject({ rowsRead: 2, eventsImported: 1, rowsRejected: 1 });
    expect(rejectLines(s.rejectFile)[1]).toMatch(/^3,,,"line has a quote that is never closed: the file looks truncated/);
  });

  it('notices a file in the wrong encoding, and reads it with the right one', async () => {
    const latin1 = Buffer.concat([Buffer.from(HEADER), Buffer.from('o1,20240101,a@example.com,10,caf\xe9 cr\xe8me\n', 'latin1')]);
    const file = fx.file('latin1.csv', latin1);
    const wrong = await runImport({ file, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(wrong).toMatchObject({ rowsRead: 1, eventsImported: 0, rowsRejected: 1 });
    expect(rejectLines(wrong.rejectFile)[1]).toContain('not valid UTF-8');
    const right = await runImport({
      file,
      mapping: shop({ encoding: 'windows-1252' }),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('right'),
    });
    expect(right.eventsImported).toBe(1);
    const utf16 = fx.file('utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEADER}${rows(1, 500)}\n`, 'utf16le')]));
    await expect(
      runImport({ file: utf16, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir('u16') }),
    ).rejects.toThrow(/UTF-16 byte order mark/);
    const ok16 = await runImport({
      file: utf16,
      mapping: shop({ encoding: 'utf-16le' }),
      ingestion: fx.platform.ingestion,
      stateDir: fx.stateDir('u16ok'),
    });
    expect(readFileSync(ok16.rejectFile, 'utf8')).toBe('line,event,field,reason\n');
    expect(ok16.eventsImported).toBe(1);
  });

  it('refuses a 0-byte file and a file without a header', async () => {
    const empty = fx.file('empty.csv', '');
    const err = await runImport({ file: empty, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir() }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(ImportFileError);
    expect(err.message).toMatch(/the file is empty \(0 bytes\)/);
    expect(existsSync(join(fx.stateDir(), 'rejects.csv'))).toBe(false);
    const blank = fx.file('blank.csv', '\n\n');
    await expect(runImport({ file: blank, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir('b') })).rejects.toThrow(
      /no header line/,
    );
  });

  it('rejects a row whose content changed since an earlier import of the same key', async () => {
    const before = fx.file('v1.csv', `${HEADER}${rows(3)}\n`);
    await runImport({ file: before, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir('v1') });
    const after = fx.file(
      'v2.csv',
      `${HEADER}${rows(3).replace('o2,20240102,c2@example.com,2.5', 'o2,20240102,c2@example.com,99')}\n${rows(1, 4)}\n`,
    );
    const s = await runImport({ file: after, mapping: shop(), ingestion: fx.platform.ingestion, stateDir: fx.stateDir('v2') });
    expect(s).toMatchObject({ rowsRead: 4, eventsImported: 1, eventsDuplicate: 2, rowsRejected: 1 });
    expect(rejectLines(s.rejectFile)[1]).toBe(
      '3,purchase,eventId,was already imported with different content: this row (or the mapping) changed since an earlier import',
    );
  });

  it('imports NDJSON by dotted paths and reports broken lines', async () => {
    const mapping = parseMapping({
      name: 'surveys',
      source: 'survey-tool',
      input: { format: 'ndjson' },
      key: ['id'],
      filter: [{ column: 'kind', equals: 'nps' }],
      events: [
        {
          type: 'survey.answered',
          occurredAt: { column: 'ts', type: 'date', format: 'epoch-ms' },
          channel: 'email',
          customer: [{ kind: 'crm', value: { column: 'who.crm' } }],
          data: { nps: { column: 'score', type: 'integer' }, comment: { column: 'text', optional: true } },
        },
      ],
    });
    const file = fx.file(
      'answers.ndjson',
      [
        '{"id":"s1","kind":"nps","ts":1700000000000,"who":{"crm":"C-1"},"score":9,"text":"great"}',
        '{"id":"s2","kind":"csat","ts":1700000000000,"who":{"crm":"C-2"},"score":4}',
        '',
        '{"id":"s3","kind":"nps","ts":1700000000000,"who":{"crm":"C-3"},"score":11}',
        '[1,2]',
        '{"id":"s4","kind":"nps","ts":17000000',
      ].join('\n'),
    );
    const s = await runImport({ file, mapping, ingestion: fx.platform.ingestion, stateDir: fx.stateDir() });
    expect(s).toMatchObject({ rowsRead: 5, eventsImported: 1, rowsFiltered: 1, rowsRejected: 3 });
    expect(rejectLines(s.rejectFile).slice(1)).toEqual([
      '4,0,data.nps,must not be greater than 10',
      '5,,,line is not a JSON object',
      '6,,,"line is not valid JSON, and is the last line without a line end: the file looks truncated"',
    ]);
  });
});
