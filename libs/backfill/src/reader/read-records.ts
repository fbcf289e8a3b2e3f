import { parse as csvParse, type Info } from 'csv-parse';
import { createReadStream, statSync } from 'node:fs';
import type { InputSpec } from '../mapping/mapping.types';

/** The file cannot be read as the mapping says (empty, wrong encoding, no header): nothing is imported. */
export class ImportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

/** One record as read: its values (csv) or object (ndjson), or why it could not be read. */
export interface ReadItem {
  /** line where the record starts (1-based) */
  line: number;
  text: string;
  values?: string[];
  object?: Record<string, unknown>;
  /** the last record of the file, without a line end (a truncated export often looks like this) */
  unterminated?: boolean;
  /** the record could not be read (broken quoting, bad JSON, bad bytes): a reject reason */
  error?: string;
}

export interface ReadProgress {
  bytesRead: number;
  totalBytes: number;
}

const CHUNK = 256 * 1024;
const MAX_RECORD = 16 * 1024 * 1024;

/**
 * Streams the records of a file: constant memory whatever its size (one chunk and one record at a
 * time; the consumer pulls). The csv header, when there is one, is the first item.
 */
export async function* readRecords(
  path: string,
  input: InputSpec,
  progress: ReadProgress = { bytesRead: 0, totalBytes: 0 },
): AsyncGenerator<ReadItem> {
  const size = statSync(path).size;
  progress.totalBytes = size;
  if (size === 0) throw new ImportFileError('the file is empty (0 bytes): nothing to import (was the export cut short?)');
  const encoding = input.encoding ?? 'utf-8';
  const decoder = new TextDecoder(encoding === 'latin1' ? 'windows-1252' : encoding);
  const checkText = encodingCheck(encoding);

  async function* text(): AsyncGenerator<string> {
    let first = true;
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
      if (first) {
        first = false;
        if (
          encoding !== 'utf-16le' &&
          chunk.length >= 2 &&
          ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))
        ) {
          throw new ImportFileError(
            `the file starts with a UTF-16 byte order mark but the mapping reads it as ${encoding}: set input.encoding to "utf-16le" (or re-export as UTF-8)`,
          );
        }
      }
      progress.bytesRead += chunk.length;
      yield decoder.decode(chunk, { stream: true });
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  }

  const items =
    input.format === 'ndjson' ? ndjson(text()) : input.separator === 'whitespace' ? whitespace(text()) : csvRecords(text(), input);
  for await (const item of items) {
    if (!item.error) {
      const problem = checkText(item.text);
      if (problem) item.error = problem;
    }
    yield item;
  }
}

function encodingCheck(encoding: string): (text: string) => string | undefined {
  return (text) => {
    if (text.includes('\u0000')) return 'contains NUL bytes: the file is probably UTF-16 or binary (set input.encoding, e.g. "utf-16le")';
    if (encoding === 'utf-8' && text.includes('\ufffd')) {
      return 'contains bytes that are not valid UTF-8: the file is probably in another encoding (set input.encoding, e.g. "windows-1252" or "latin1")';
    }
    return undefined;
  };
}

/** Lines with their numbers; the last one may lack its line end (a truncated file). */
async function* lines(chunks: AsyncIterable<string>): AsyncGenerator<{ line: number; text: string; unterminated: boolean }> {
  let buf = '';
  let line = 0;
  for await (const chunk of chunks) {
    buf += chunk;
    let start = 0;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n', start)) {
      line++;
      const end = nl > start && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield { line, text: buf.slice(start, end), unterminated: false };
      start = nl + 1;
    }
    buf = buf.slice(start);
    if (buf.length > MAX_RECORD)
      throw new ImportFileError(`line ${line + 1} is longer than ${MAX_RECORD} characters: is the separator or format right?`);
  }
  if (buf.length > 0) yield { line: line + 1, text: buf.endsWith('\r') ? buf.slice(0, -1) : buf, unterminated: true };
}

async function* whitespace(chunks: AsyncIterable<string>): AsyncGenerator<ReadItem> {
  for await (const { line, text, unterminated } of lines(chunks)) {
    const t = text.trim();
    if (t === '') continue;
    yield { line, text, values: t.split(/\s+/), unterminated };
  }
}

async function* ndjson(chunks: AsyncIterable<string>): AsyncGenerator<ReadItem> {
  for await (const { line, text, unterminated } of lines(chunks)) {
    if (text.trim() === '') continue;
    let object: unknown;
    try {
      object = JSON.parse(text);
    } catch {
      yield {
        line,
        text,
        error: unterminated ? 'is not valid JSON, and is the last line without a line end: the file looks truncated' : 'is not valid JSON',
      };
      continue;
    }
    if (typeof object !== 'object' || object === null || Array.isArray(object)) yield { line, text, error: 'is not a JSON object' };
    else yield { line, text, object: object as Record<string, unknown> };
  }
}

/**
 * Delimited text. Lines without a quote character (most exports: all of them) are split directly,
 * which is what csv-parse would make of them at a fraction of its cost (it was about a fifth of an
 * import's CPU). The first line that needs the real parser (a quote, a stray carriage return, a
 * blank-looking line, an overlong line) hands it and the rest of the file to csv-parse, started at
 * that line boundary with the record delimiter the file's first line set: records, line numbers and
 * reject reasons are exactly csv-parse's (read-records.unit.spec compares the two on generated files).
 */
export async function* csvRecords(chunks: AsyncIterable<string>, input: InputSpec): AsyncGenerator<ReadItem> {
  const separator = input.separator ?? ',';
  const quote = input.quote ?? '"';
  const trim = input.trim ?? true;
  // a blank separator with trimming makes csv-parse choose between the two: leave it to csv-parse
  if (separator.length !== 1 || quote.length !== 1 || /\s/.test(separator) || separator === quote) {
    yield* csvParseRecords(chunks, input);
    return;
  }
  const iterator = chunks[Symbol.asyncIterator]();
  let buf = '';
  let line = 0;
  /** the first line's ending (csv-parse keeps to the one it discovers first); undefined until then */
  let crlf: boolean | undefined;
  /** the blank lines skipped since the last record */
  let skipped = '';
  let skippedLines = 0;
  /** the rest of the file (from `buf`) through csv-parse, its line numbers following ours */
  const rest = (delimiter: string | undefined) => {
    // blank lines skipped since the last record belong to the next record's raw text: csv-parse reads them again
    const head = skippedLines > 0 ? (crlf ? '\r\n' : '\n').repeat(skippedLines) + buf : buf;
    line -= skippedLines;
    const tail = (async function* () {
      if (head) yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    })();
    return csvParseRecords(tail, input, { lineOffset: line, recordDelimiter: delimiter });
  };
  /** the line's values when csv-parse would read it as one plain record; null to skip it; undefined: not plain */
  const plain = (text: string): string[] | null | undefined => {
    if (text.includes(quote) || text.includes('\r')) return undefined;
    if (text === '') return null; // skip_empty_lines
    const values = text.split(separator);
    if (trim) {
      for (let i = 0; i < values.length; i++) values[i] = values[i].trim();
      // a line of blanks only: csv-parse's and our trimming differ in what counts as blank
      if (values.length === 1 && values[0] === '') return undefined;
    }
    return values;
  };
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    buf += next.value;
    let start = 0;
    for (let nl = buf.indexOf('\n', start); nl >= 0; nl = buf.indexOf('\n', start)) {
      let end = nl;
      if (crlf === undefined) {
        const first = buf.slice(0, nl);
        const cr = first.indexOf('\r');
        // the first record ends at the first line end outside quotes: with a quote on the first line,
        // or a lone carriage return (old Mac files), csv-parse discovers it alone
        if (first.includes(quote) || (cr >= 0 && cr !== nl - 1)) {
          yield* rest(undefined);
          return;
        }
        crlf = cr === nl - 1;
      }
      if (crlf) {
        if (nl === start || buf.charCodeAt(nl - 1) !== 13) {
          // a bare line feed in a CRLF file is inside a record for csv-parse
          buf = buf.slice(start);
          yield* rest('\r\n');
          return;
        }
        end = nl - 1;
      }
      const text = buf.slice(start, end);
      const values = plain(text);
      if (values === undefined) {
        buf = buf.slice(start);
        yield* rest(crlf ? '\r\n' : '\n');
        return;
      }
      line++;
      start = nl + 1;
      // the record's text as csv-parse's raw gave it (`$row` keys of earlier imports were made of
      // it): with the blank lines skipped before it, and with CRLF its carriage return (csv-parse
      // left out the line feed of each CRLF there)
      if (values === null) {
        skipped += crlf ? '\r' : '\n';
        skippedLines++;
      } else {
        yield { line, text: skipped || crlf ? `${skipped}${text}${crlf ? '\r' : ''}` : text, values, unterminated: false };
        skipped = '';
        skippedLines = 0;
      }
    }
    buf = buf.slice(start);
    if (buf.length > MAX_RECORD) {
      yield* rest(crlf === undefined ? undefined : crlf ? '\r\n' : '\n');
      return;
    }
  }
  if (buf.length === 0) return;
  const values = crlf === undefined ? undefined : plain(buf);
  if (values === undefined) yield* rest(crlf === undefined ? undefined : crlf ? '\r\n' : '\n');
  else if (values !== null) yield { line: line + 1, text: skipped + buf, values, unterminated: true };
}

/** Delimited text through csv-parse, driven chunk by chunk so records and errors come out in file order. */
export async function* csvParseRecords(
  chunks: AsyncIterable<string>,
  input: InputSpec,
  /** where the text starts in the file: lines before it, and the record delimiter its first line set */
  from: { lineOffset: number; recordDelimiter?: string } = { lineOffset: 0 },
): AsyncGenerator<ReadItem> {
  const out: ReadItem[] = [];
  const trim = input.trim ?? true;
  const parser = csvParse({
    delimiter: input.separator ?? ',',
    ...(from.recordDelimiter ? { record_delimiter: from.recordDelimiter } : {}),
    quote: input.quote ?? '"',
    trim,
    relax_column_count: true, // the importer names the row and the counts instead of stopping the file
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD,
    info: true,
    raw: true,
    on_record: (r: { record: string[]; raw: string; info: Info }) => {
      const raw = r.raw;
      // csv-parse puts the blank lines it skipped at the start of the next record's raw text: not
      // where the record starts (the text keeps them: `$row` keys of earlier imports were made of it)
      const body = raw.slice((trim ? BLANK_LINES : EMPTY_LINES).exec(raw)![0].length);
      const newlines = countNewlines(body) - (raw.endsWith('\n') ? 1 : 0);
      // with CRLF line ends csv-parse's raw text lacks the final line feed
      const terminated = raw.endsWith('\n') || (raw.endsWith('\r') && crlfDelimited(parser));
      // csv-parse trims around the quotes only: "  x  " keeps its blanks, so trim quoted cells too
      const values = trim ? r.record.map((v) => v.trim()) : r.record;
      out.push({ line: from.lineOffset + r.info.lines - newlines, text: raw.replace(/\r?\n$/, ''), values, unterminated: !terminated });
      return undefined; // records leave through `out`, in order with the errors
    },
    on_skip: (err: Error & { lines?: number; code?: string }) => {
      const line = err.lines === undefined ? 0 : from.lineOffset + err.lines;
      const reason =
        err.code === 'CSV_QUOTE_NOT_CLOSED'
          ? 'has a quote that is never closed: the file looks truncated, or the quote character is wrong'
          : err.code === 'CSV_INVALID_CLOSING_QUOTE' || err.code === 'INVALID_OPENING_QUOTE'
            ? `has a stray quote character (${err.message
                .replace(/^[^:]*:\s*/, '')
                .replace(/at line (\d+)/, (_, n: string) => `at line ${from.lineOffset + Number(n)}`)
                .slice(0, 120)})`
            : `cannot be read as CSV (${err.code ?? err.message})`;
      out.push({ line, text: '', error: reason });
      return undefined;
    },
  } as never);
  let failure: Error | undefined;
  parser.on('error', (e: Error) => (failure = e));
  parser.resume();
  const write = (chunk: string) => new Promise<void>((resolve) => parser.write(chunk, () => resolve()));
  for await (const chunk of chunks) {
    await write(chunk);
    if (failure) throw new ImportFileError(`cannot be read as CSV: ${failure.message}`);
    yield* drain(out);
  }
  await new Promise<void>((resolve) => {
    parser.once('end', resolve);
    parser.once('close', resolve);
    parser.end();
  });
  if (failure) throw new ImportFileError(`cannot be read as CSV: ${(failure as Error).message}`);
  yield* drain(out);
}

function* drain(out: ReadItem[]): Generator<ReadItem> {
  for (let i = 0; i < out.length; i++) yield out[i];
  out.length = 0;
}

/** what csv-parse skips as empty lines: with trimming, lines of blanks too */
const BLANK_LINES = /^(?:[^\S\r\n]*\r?\n)*/;
const EMPTY_LINES = /^(?:\r?\n)*/;

function crlfDelimited(parser: { options?: { record_delimiter?: Buffer[] } }): boolean {
  const delimiters = parser.options?.record_delimiter ?? [];
  return delimiters.length === 1 && delimiters[0].toString() === '\r\n';
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/** Bytes of the file, for progress and fingerprints. */
export const fileSize = (path: string) => statSync(path).size;
